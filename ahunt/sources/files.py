"""Readers for user data: image folders (PNG/JPEG/FITS), catalogues, NumPy and HDF5 files.

Every reader gives ``RoundData`` already shaped for the model, whole (``read_*``) or as
pieces of ``PIECE`` objects (``stream_*``, which ``ahunt ingest`` writes to the store one at a
time, so a night's size is limited by disk, not memory): resized to the model's input size and converted to its channel count, the same way at training and scoring time
(``to_model_input``).  Pixel scaling: integer images are divided by their type's maximum (255
for 8-bit), float arrays must already lie in [0, 1] (they are taken as stretched images; raw
fluxes outside it are refused with the fix, never given to the network as they are), and raw
FITS fluxes are stretched to [0, 1] as ``[data]`` of the config says (``ahunt/sources/stretch.py``).

Inputs (``read_labelled`` for round 0, ``read_batch`` for a night):

* a folder: one subfolder per class (labelled) or flat (a night), of PNG/JPEG/FITS files;
  FITS files named ``STEM_g.fits``, ``STEM_r.fits``, ``STEM_z.fits`` are one object ``STEM``;
* a catalogue ``.csv`` / ``.ecsv`` with columns id, path (+ ra, dec, label), see catalogue.py;
* a Galaxy10 DECaLS ``.h5`` file (datasets ``images`` and ``ans``), read lazily, see galaxy10.py;
* a ``.npz`` / ``.npy`` / other ``.h5`` file with ``images`` (+ ``labels``, ``ids``, ``ra``,
  ``dec``, ``truth``);
* a single FITS file (one object).

Bad input: with ``report=True`` a folder or catalogue skips the files it cannot use and returns
them, with the reason, in ``ReadResult.skipped``; without it (the default) the first bad file
is an error.  A single-file input that is bad is always an error (``InputError``), and so is a
folder or catalogue with nothing usable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from ahunt.errors import InputError
from ahunt.sources.pixels import to_model_input
from ahunt.sources.rounds import RoundData

if TYPE_CHECKING:  # pragma: no cover
    from ahunt.config import DataConfig

__all__ = [
    "IMAGE_SUFFIXES", "ReadResult", "StreamResult", "read_labelled", "read_batch", "read_input",
    "stream_input", "stream_batch", "parse_classes", "PIECE",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_ARRAY_SUFFIXES = (".npz", ".npy", ".h5", ".hdf5")
_NOT_IMAGE = "not a PNG, JPEG or FITS image; ignored"
PIECE = 1024  # objects read, resized and handed to the store at a time when streaming a night


@dataclass
class ReadResult:
    """What a reader made of an input: the data, and the files it skipped with the reason.

    Unpacks as a pair: ``data, skipped = read_batch(path, ..., report=True)``.
    """

    data: RoundData
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __iter__(self) -> Iterator:
        yield self.data
        yield self.skipped


@dataclass
class StreamResult:
    """An input read piece by piece: ``pieces`` yields consecutive ``RoundData`` of at most
    ``PIECE`` objects (for ``Store.add_round_pieces``); ``skipped`` fills up as they are read."""

    pieces: Iterator[RoundData]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def parse_classes(spec: str | Iterable | None) -> list[str] | None:
    """``"6,8"`` or ``["Merging", 1]`` -> ``["6", "8"]`` / ``["Merging", "1"]``; None stays None."""
    if spec is None:
        return None
    parts = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
    names = [p.strip() for p in parts if p.strip()]
    if not names:
        raise InputError(f"--classes {spec!r}: no class given; e.g. --classes 6,8 or --classes spiral,elliptical")
    return names


def _check_classes(wanted: Sequence[str], present: Iterable[str], source: str) -> None:
    have = list(dict.fromkeys(present))
    unknown = [c for c in wanted if c not in have]
    if unknown:
        raise InputError(f"{source}: class {unknown[0]!r} (from --classes) is not among the known classes "
                         f"here: {', '.join(have) or 'none'}")


# -- single images -------------------------------------------------------------------------
def _read_image(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    try:
        img = mpimg.imread(path)
    except Exception as exc:  # PIL raises several kinds for corrupt files
        raise InputError(f"{path}: cannot read image ({exc})") from None
    if img.ndim not in (2, 3):
        raise InputError(f"{path}: not a 2-D image (shape {img.shape})")
    if min(img.shape[:2]) < 2:
        raise InputError(f"{path}: image of {img.shape[1]}x{img.shape[0]} pixels is too small; the minimum is "
                         "2x2 (each image is resized to [model] image_size)")
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)  # matplotlib gives PNG as float
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    if img.ndim == 3 and img.shape[-1] == 3 and np.all(img[..., 0] == img[..., 1]) and np.all(img[..., 1] == img[..., 2]):
        img = img[..., 0]  # a grey image stored as RGB
    return img


@dataclass
class _Item:
    """One object to read: its id, its file(s), and what is known about it already."""

    id: str
    files: list[Path]
    label: str | None = None
    ra: float = float("nan")
    dec: float = float("nan")


def _is_fits(path: Path) -> bool:
    from ahunt.sources.fits import is_fits

    return is_fits(path)


def _load_item(item: _Item, *, image_size: int, channels: int, config) -> tuple[np.ndarray, float, float]:
    """(1, channels, size, size) float32, ra, dec; InputError naming the file on any problem."""
    first = item.files[0]
    if _is_fits(first):
        from ahunt.sources.fits import read_fits_cutout

        cut = read_fits_cutout(item.files, config)
        x = to_model_input(cut.image[None], image_size=image_size, channels=channels, source=str(first))
        ra, dec = (item.ra, item.dec) if np.isfinite(item.ra) and np.isfinite(item.dec) else (cut.ra, cut.dec)
        return x, ra, dec
    if first.suffix.lower() in IMAGE_SUFFIXES:
        img = _read_image(first)
        return to_model_input(img[None], image_size=image_size, channels=channels, source=str(first)), item.ra, item.dec
    raise InputError(f"{first}: {_NOT_IMAGE.split(';')[0]}")


def _iter_items(items: list[_Item], *, source: Path, labelled: bool, image_size: int, channels: int, config,
                report: bool, skipped: list[tuple[str, str]], track=None, piece: int | None = None) -> Iterator[RoundData]:
    """Read every item, yielding pieces of ``piece`` objects; a bad item is skipped (report) or
    an error; duplicate ids are bad items.  Positions are always given (NaN where unknown)."""
    piece = piece or PIECE
    seen: dict[str, str] = {}
    has_labels = all(i.label is not None for i in items)
    images, kept, ras, decs = [], [], [], []
    yielded = 0

    def take() -> RoundData:
        labels = np.array([i.label for i in kept], dtype=object)
        return RoundData(
            images=np.concatenate(images),
            ids=np.array([i.id for i in kept], dtype=object),
            labels=labels if labelled else None,
            truth=labels if (not labelled and has_labels) else None,
            ra=np.array(ras, dtype=np.float64),
            dec=np.array(decs, dtype=np.float64),
        )

    iterable = items if track is None else track(items, f"reading {source.name}", len(items))
    for item in iterable:
        where = str(item.files[0]) if item.files else item.id
        try:
            if item.id in seen:
                raise InputError(f"{where}: duplicate object id {item.id!r} (already used by {seen[item.id]})")
            if not item.id:
                raise InputError(f"{where}: empty object id")
            x, ra, dec = _load_item(item, image_size=image_size, channels=channels, config=config)
            if not np.isfinite(x).all():
                raise InputError(f"{where}: image has NaN or infinite pixels after reading")
        except InputError as exc:
            if not report:
                raise
            reason = str(exc)
            if reason.startswith(where + ": "):
                reason = reason[len(where) + 2:]
            skipped.append((where, reason))
            continue
        seen[item.id] = where
        images.append(x)
        kept.append(item)
        ras.append(ra)
        decs.append(dec)
        if len(kept) == piece:
            yield take()
            yielded += len(kept)
            images, kept, ras, decs = [], [], [], []
    if kept:
        yield take()
    elif not yielded:
        raise InputError(f"{source}: no readable images{_skipped_detail(skipped)}")


def _skipped_detail(skipped: Sequence[tuple[str, str]], limit: int = 20) -> str:
    """'; skipped 6: a.png: why; b.png: why; ...' naming every file up to ``limit``, then a count."""
    if not skipped:
        return ""
    named = "; ".join(f"{f}: {why}" for f, why in skipped[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return f"; skipped {len(skipped)}: {named}{more}"


# -- folders -------------------------------------------------------------------------------
def _folder_items(folder: Path, *, prefix: str, label: str | None, skipped: list[tuple[str, str]]) -> list[_Item]:
    from ahunt.sources.fits import group_band_files

    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    pictures = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    fits_files = [p for p in entries if p.is_file() and _is_fits(p)]
    skipped += [(str(p), _NOT_IMAGE) for p in entries if p.is_file() and p not in pictures and p not in fits_files]
    items = [_Item(id=prefix + p.stem, files=[p], label=label) for p in pictures]
    items += [_Item(id=prefix + stem, files=files, label=label) for stem, files in group_band_files(fits_files)]
    return sorted(items, key=lambda i: i.id)


def _stream_folder(path: Path, *, labelled: bool, image_size: int, channels: int, config, report: bool,
                   classes: list[str] | None, track=None) -> StreamResult:
    skipped: list[tuple[str, str]] = []
    subfolders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if labelled:
        if not subfolders:
            raise InputError(f"{path}: no class subfolders; a labelled folder holds one subfolder per class")
        if classes is not None:
            _check_classes(classes, [c.name for c in subfolders], str(path))
            subfolders = [c for c in subfolders if c.name in classes]
        items = []
        for c in subfolders:
            found = _folder_items(c, prefix=f"{c.name}/", label=c.name, skipped=skipped)
            if not found:
                skipped.append((str(c), "class folder has no PNG, JPEG or FITS images"))
            items += found
    else:
        if classes is not None:
            raise InputError(f"{path}: --classes needs labelled data; a flat folder has no classes")
        items = _folder_items(path, prefix="", label=None, skipped=skipped)
    if not items:
        hint = (f" (it has subfolders {', '.join(p.name for p in subfolders[:5])}: a night is a flat folder)"
                if subfolders and not labelled else "")
        raise InputError(f"{path}: no PNG, JPEG or FITS images found{hint}")
    return StreamResult(_iter_items(items, source=path, labelled=labelled, image_size=image_size, channels=channels,
                                    config=config, report=report, skipped=skipped, track=track), skipped)


# -- catalogues ----------------------------------------------------------------------------
def _stream_catalogue(path: Path, *, labelled: bool, image_size: int, channels: int, config, report: bool,
                      classes: list[str] | None, track=None) -> StreamResult:
    from ahunt.sources.catalogue import read_catalogue_rows

    rows = read_catalogue_rows(path, labelled=labelled)
    skipped: list[tuple[str, str]] = []
    if classes is not None:
        present = [r.label for r in rows if r.label is not None]
        if not present:
            raise InputError(f"{path}: --classes needs a 'label' column")
        _check_classes(classes, present, str(path))
        rows = [r for r in rows if r.label in classes]
    items = []
    for r in rows:
        if labelled and r.label is None:
            problem = "no label"
        elif not r.path.is_file():
            problem = "file not found"
        elif not (_is_fits(r.path) or r.path.suffix.lower() in IMAGE_SUFFIXES):
            problem = _NOT_IMAGE.split(";")[0]
        else:
            items.append(_Item(id=r.id, files=[r.path], label=r.label, ra=r.ra, dec=r.dec))
            continue
        if not report:
            raise InputError(f"{r.path}: {problem} (catalogue {path}, id {r.id!r})")
        skipped.append((str(r.path), f"{problem} (id {r.id!r})"))
    if not items:
        raise InputError(f"{path}: no readable images listed{_skipped_detail(skipped)}")
    return StreamResult(_iter_items(items, source=path, labelled=labelled, image_size=image_size, channels=channels,
                                    config=config, report=report, skipped=skipped, track=track), skipped)


# -- arrays --------------------------------------------------------------------------------
def _strs(values) -> np.ndarray:
    return np.array([x.decode() if isinstance(x, bytes) else str(x) for x in values], dtype=object)


def _clean_float_images(images: np.ndarray, ids: np.ndarray, path: Path) -> np.ndarray:
    """Replace non-finite pixels by the image's median; an image with none finite is an error."""
    if not np.issubdtype(images.dtype, np.floating):
        return images
    flat = images.reshape(len(images), -1)
    bad = ~np.isfinite(flat)
    if not bad.any():
        return images
    rows = np.flatnonzero(bad.any(axis=1))
    empty = rows[bad[rows].all(axis=1)]
    if empty.size:
        raise InputError(f"{path}: image {ids[empty[0]]!r} has no finite pixel (all NaN or infinite)")
    out = np.array(flat, dtype=np.float32)
    for i in rows:
        out[i, bad[i]] = np.median(out[i, ~bad[i]])
    return out.reshape(images.shape)


def _check_float_range(images: np.ndarray, path: Path) -> None:
    """Float arrays must hold images already scaled to [0, 1]: raw fluxes (negative sky, counts
    in the thousands) are refused with the fix, not given to the network as they are."""
    if not np.issubdtype(images.dtype, np.floating) or images.size == 0:
        return
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-5 or hi > 1 + 1e-5:
        raise InputError(
            f"{path}: float pixel values run from {lo:.3g} to {hi:.3g}, but ahunt reads float arrays as images "
            "already scaled to [0, 1]. Raw fluxes: save them as FITS files, which ahunt stretches as [data] says "
            "(asinh by default), or stretch them first; an image already stretched: divide it by its maximum"
        )


class _NpyRows:
    """The rows of a ``.npy`` file, read with plain file reads when sliced.

    Not ``np.load(mmap_mode="r")``: the pages of a memory map count in the process's resident
    memory as they are read, so a 3 GB night would look like a 3 GB process.
    """

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = header(f)
            self.offset = f.tell()
        if fortran or dtype.hasobject:
            raise InputError(f"{path}: only C-ordered numeric .npy arrays can be read; save it with np.save")
        self.shape, self.dtype, self.ndim = tuple(shape), dtype, len(shape)
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice | np.ndarray) -> np.ndarray:
        if not isinstance(rows, slice):  # sorted row indices: read the rows they span
            rows = np.asarray(rows)
            return self[int(rows[0]) : int(rows[-1]) + 1][rows - rows[0]] if len(rows) else self[0:0]
        start, stop, _ = rows.indices(len(self))
        out = np.empty((max(0, stop - start), *self.shape[1:]), dtype=self.dtype)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            if f.readinto(memoryview(out).cast("B")) != out.nbytes:
                raise InputError(f"{self.path}: file is shorter than its header says")
        return out


def _iter_arrays(path: Path, *, labelled: bool, image_size: int, channels: int,
                 classes: list[str] | None, piece: int | None = None) -> Iterator[RoundData]:
    """Pieces of an array file.  Images of a ``.npy`` (memory-mapped) or ``.h5`` file are read a
    piece at a time; a ``.npz`` member can only be read whole."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            columns = {"images": _NpyRows(path)}
            h5 = None
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                columns = {k: npz[k] for k in npz.files}
            h5 = None
        else:
            import h5py

            h5 = h5py.File(path, "r")
            columns = {k: h5[k] if k == "images" else h5[k][...] for k in h5.keys() if isinstance(h5[k], h5py.Dataset)}
    except Exception as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    try:
        yield from _array_pieces(path, columns, labelled=labelled, image_size=image_size, channels=channels,
                                 classes=classes, piece=piece or PIECE)
    finally:
        if h5 is not None:
            h5.close()


def _array_pieces(path: Path, columns: dict, *, labelled: bool, image_size: int, channels: int,
                  classes: list[str] | None, piece: int) -> Iterator[RoundData]:
    if "images" not in columns:
        raise InputError(f"{path}: no 'images' array (found: {', '.join(columns) or 'nothing'})")
    images = columns["images"]
    if images.ndim not in (3, 4):
        raise InputError(f"{path}: 'images' must be (N, H, W) or (N, H, W, C); got shape {images.shape}")
    if np.dtype(images.dtype).kind == "c":  # before any cleaning, which would drop the imaginary part
        raise InputError(f"{path}: 'images' are complex numbers ({images.dtype}); ahunt reads real-valued "
                         "images (save np.abs(images) or images.real instead)")
    if images.ndim == 4 and images.shape[1] > 4 and images.shape[-1] > 4:
        raise InputError(f"{path}: 'images' of shape {tuple(images.shape[1:])} have {images.shape[-1]} planes; "
                         "ahunt reads 1 (grey), 2-3 (bands, e.g. g r z) or 4 (RGBA) planes per image; keep the "
                         "bands you want first, e.g. images[..., [1, 2, 3]]")
    n = len(images)
    if n == 0:
        raise InputError(f"{path}: 'images' is empty")
    labels = columns.get("labels")
    if labelled and labels is None:
        raise InputError(f"{path}: labelled data needs a 'labels' array beside 'images'")
    labels = _strs(labels) if labels is not None else None
    ids = columns.get("ids")
    ids = _strs(ids) if ids is not None else np.array([f"{path.stem}-{i:06d}" for i in range(n)], dtype=object)
    truth = _strs(columns["truth"]) if "truth" in columns else None
    ra = np.asarray(columns["ra"], dtype=np.float64) if "ra" in columns else None
    dec = np.asarray(columns["dec"], dtype=np.float64) if "dec" in columns else None
    for name, column in (("labels", labels), ("ids", ids), ("truth", truth), ("ra", ra), ("dec", dec)):
        if column is not None and len(column) != n:
            raise InputError(f"{path}: {name} has {len(column)} entries for {n} images")
    if len(set(ids.tolist())) != n:
        seen: set[str] = set()
        dup = next(i for i in ids.tolist() if i in seen or seen.add(i))
        raise InputError(f"{path}: duplicate object id {dup!r}")
    if not labelled and truth is None:
        truth = labels  # labels given with a night are its true classes (for --oracle truth)
    keep = None
    if classes is not None:
        by = labels if labelled else truth
        if by is None:
            raise InputError(f"{path}: --classes needs a 'labels' array")
        _check_classes(classes, by.tolist(), str(path))
        keep = np.flatnonzero(np.isin(by, classes))
    count = n if keep is None else len(keep)
    for s in range(0, count, piece):
        rows = slice(s, min(count, s + piece)) if keep is None else keep[s : s + piece]
        part_ids = ids[rows]
        block = _clean_float_images(np.asarray(images[rows]), part_ids, path)
        _check_float_range(block, path)
        yield RoundData(
            images=to_model_input(block, image_size=image_size, channels=channels, source=str(path)),
            ids=part_ids,
            labels=labels[rows] if labelled else None,
            truth=truth[rows] if truth is not None else None,
            ra=ra[rows] if ra is not None else None,
            dec=dec[rows] if dec is not None else None,
        )


# -- entry points --------------------------------------------------------------------------
def stream_input(path: str | Path, *, labelled: bool, image_size: int, channels: int,
                 data_config: "DataConfig | None" = None, classes: str | Iterable | None = None,
                 report: bool = True, track=None) -> StreamResult:
    """Read any supported input piece by piece (see the module docstring).  Problems with the
    input as a whole are raised here; problems with an object, as its piece is read."""
    path = Path(path)
    wanted = parse_classes(classes)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    name = path.name.lower()
    if path.is_dir():
        result = _stream_folder(path, labelled=labelled, image_size=image_size, channels=channels,
                                config=data_config, report=report, classes=wanted, track=track)
    elif name.endswith((".csv", ".ecsv")):
        result = _stream_catalogue(path, labelled=labelled, image_size=image_size, channels=channels,
                                   config=data_config, report=report, classes=wanted, track=track)
    elif name.endswith((".h5", ".hdf5")) and _galaxy10(path):
        from ahunt.sources.galaxy10 import iter_galaxy10

        def unlabelled(pieces):
            for piece in pieces:
                piece.labels = None
                yield piece

        pieces = iter_galaxy10(path, image_size=image_size, channels=channels, classes=wanted, track=track)
        result = StreamResult(pieces if labelled else unlabelled(pieces))
    elif name.endswith(_ARRAY_SUFFIXES):
        result = StreamResult(_iter_arrays(path, labelled=labelled, image_size=image_size, channels=channels,
                                           classes=wanted))
    elif _is_fits(path):
        if labelled:
            raise InputError(f"{path}: a single FITS file has no class; give a folder with one subfolder per "
                             "class, or a catalogue with a label column")
        if wanted is not None:
            raise InputError(f"{path}: --classes needs labelled data")
        from ahunt.sources.fits import fits_stem

        result = StreamResult(_iter_items([_Item(id=fits_stem(path), files=[path])], source=path, labelled=False,
                                          image_size=image_size, channels=channels, config=data_config,
                                          report=False, skipped=[]))
    else:
        raise InputError(f"{path}: unsupported input; give a folder of PNG/JPEG/FITS images, a .csv/.ecsv "
                         "catalogue, a FITS file, or a .npz, .npy or .h5 file")
    result.pieces = _finite(result.pieces, path)
    return result


def _finite(pieces: Iterator[RoundData], path: Path) -> Iterator[RoundData]:
    for piece in pieces:
        bad = np.flatnonzero(~np.isfinite(piece.images).reshape(len(piece.images), -1).all(axis=1))
        if bad.size:
            raise InputError(f"{path}: image {piece.ids[bad[0]]!r} has NaN or infinite pixels")
        yield piece


def read_input(path: str | Path, *, labelled: bool, image_size: int, channels: int,
               data_config: "DataConfig | None" = None, classes: str | Iterable | None = None,
               report: bool = True, track=None) -> ReadResult:
    """Read any supported input whole (``stream_input``, gathered).  Always returns a ``ReadResult``."""
    stream = stream_input(path, labelled=labelled, image_size=image_size, channels=channels,
                          data_config=data_config, classes=classes, report=report, track=track)
    data = RoundData.concat(list(stream.pieces))
    if data.ra is not None and not np.isfinite(data.ra).any():
        data.ra = data.dec = None  # no object had a position
    return ReadResult(data, stream.skipped)


def _galaxy10(path: Path) -> bool:
    from ahunt.sources.galaxy10 import is_galaxy10

    return is_galaxy10(path)


def read_labelled(path: str | Path, *, image_size: int, channels: int, report: bool = False,
                  data_config: "DataConfig | None" = None, classes: str | Iterable | None = None,
                  track=None) -> RoundData | ReadResult:
    """Round-0 data: a folder with one subfolder per class, a catalogue with labels, a Galaxy10
    file, or arrays with 'images' and 'labels'.

    ``classes`` keeps only those classes (names; Galaxy10 also takes indices).  With
    ``report=True`` bad files of a folder or catalogue are skipped and a ``ReadResult`` (data,
    skipped) is returned; otherwise the first bad file is an error and the ``RoundData`` is returned.
    """
    result = read_input(path, labelled=True, image_size=image_size, channels=channels, data_config=data_config,
                        classes=classes, report=report, track=track)
    return result if report else result.data


def stream_batch(path: str | Path, *, image_size: int, channels: int, data_config: "DataConfig | None" = None,
                 classes: str | Iterable | None = None, track=None) -> StreamResult:
    """A night, piece by piece, for ``Store.add_round_pieces``: what ``read_batch(report=True)``
    reads, never more than ``PIECE`` objects in memory.  Bad files are skipped and listed."""
    return stream_input(path, labelled=False, image_size=image_size, channels=channels, data_config=data_config,
                        classes=classes, report=True, track=track)


def read_batch(path: str | Path, *, image_size: int, channels: int, report: bool = False,
               data_config: "DataConfig | None" = None, classes: str | Iterable | None = None,
               track=None) -> RoundData | ReadResult:
    """A night's unlabelled batch: a flat folder of images, a catalogue, a FITS file, or arrays
    with 'images'.  Labels given with the data are kept as ``truth`` (for ``--oracle truth``),
    never used for training.  ``report`` and ``classes`` as for ``read_labelled``.
    """
    result = read_input(path, labelled=False, image_size=image_size, channels=channels, data_config=data_config,
                        classes=classes, report=report, track=track)
    return result if report else result.data

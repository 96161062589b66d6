"""Readers for user data: image folders (PNG/JPEG), NumPy .npz/.npy and HDF5 files.

Every reader returns a ``RoundData`` already shaped for the model: resized to the model's
input size and converted to its channel count, the same way at training and scoring time.
Pixel scaling: integer images are divided by their type's maximum (255 for 8-bit), floats are
kept as they are (they are assumed to be stretched already, as the simulator's are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ahunt.errors import StoreError
from ahunt.store import RoundData

__all__ = ["IMAGE_SUFFIXES", "read_labelled", "read_batch", "to_model_input"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


class InputError(StoreError):
    """A data file or folder cannot be read as asked."""


def to_model_input(images: np.ndarray, *, image_size: int, channels: int, source: str = "") -> np.ndarray:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) -> float32 (N, channels, image_size, image_size)."""
    import torch
    import torch.nn.functional as F

    x = np.asarray(images)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = np.moveaxis(x, -1, 1)
    elif x.ndim != 4:
        raise InputError(f"{source}: images must be (N, H, W) or (N, H, W, C); got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = x.astype(np.float32)
    if x.shape[1] == 4:  # drop alpha
        x = x[:, :3]
    if x.shape[1] != channels:
        # grey <-> colour: replicate grey, or average the bands to grey
        x = np.repeat(x, channels, axis=1) if x.shape[1] == 1 else x.mean(axis=1, keepdims=True)
    if x.shape[2:] != (image_size, image_size):
        t = torch.from_numpy(x)
        x = F.interpolate(t, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False).numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def _read_image(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    try:
        img = mpimg.imread(path)
    except Exception as exc:  # PIL raises several kinds for corrupt files
        raise InputError(f"{path}: cannot read image ({exc})") from None
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)  # matplotlib gives PNG as float
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    if img.ndim == 3 and img.shape[-1] == 3 and np.all(img[..., 0] == img[..., 1]) and np.all(img[..., 1] == img[..., 2]):
        img = img[..., 0]  # a grey image stored as RGB
    return img


def _stack(images: Sequence[np.ndarray], *, image_size: int, channels: int, paths: Sequence[Path]) -> np.ndarray:
    out = [to_model_input(img[None], image_size=image_size, channels=channels, source=str(p)) for img, p in zip(images, paths)]
    return np.concatenate(out)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_folder(path: Path, *, labelled: bool, image_size: int, channels: int) -> RoundData:
    if labelled:
        classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise InputError(f"{path}: no class subfolders; a labelled folder holds one subfolder per class")
        files = [(f, c.name) for c in classes for f in _image_files(c)]
    else:
        files = [(f, None) for f in _image_files(path)]
    if not files:
        raise InputError(f"{path}: no PNG or JPEG images found")
    images = [_read_image(f) for f, _ in files]
    ids = [str(f.relative_to(path).with_suffix("")) if labelled else f.stem for f, _ in files]
    return RoundData(
        images=_stack(images, image_size=image_size, channels=channels, paths=[f for f, _ in files]),
        ids=np.array(ids, dtype=object),
        labels=np.array([c for _, c in files], dtype=object) if labelled else None,
    )


def _read_arrays(path: Path, *, labelled: bool, image_size: int, channels: int) -> RoundData:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            columns = {"images": np.load(path, allow_pickle=False)}
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                columns = {k: npz[k] for k in npz.files}
        else:
            import h5py

            with h5py.File(path, "r") as f:
                columns = {k: f[k][...] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    except Exception as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if "images" not in columns:
        raise InputError(f"{path}: no 'images' array (found: {', '.join(columns) or 'nothing'})")
    images = columns["images"]
    n = len(images)
    labels = columns.get("labels")
    if labelled and labels is None:
        raise InputError(f"{path}: labelled data needs a 'labels' array beside 'images'")
    if labels is not None:
        labels = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in labels], dtype=object)
    ids = columns.get("ids")
    ids = (np.array([x.decode() if isinstance(x, bytes) else str(x) for x in ids], dtype=object)
           if ids is not None else np.array([f"{path.stem}-{i:06d}" for i in range(n)], dtype=object))
    for name, column in (("labels", labels), ("ids", ids)):
        if column is not None and len(column) != n:
            raise InputError(f"{path}: {name} has {len(column)} entries for {n} images")
    truth = columns.get("truth")
    return RoundData(
        images=to_model_input(images, image_size=image_size, channels=channels, source=str(path)),
        ids=ids,
        labels=labels if labelled else None,
        truth=np.array([str(x.decode() if isinstance(x, bytes) else x) for x in truth], dtype=object) if truth is not None else None,
        ra=np.asarray(columns["ra"], dtype=np.float64) if "ra" in columns else None,
        dec=np.asarray(columns["dec"], dtype=np.float64) if "dec" in columns else None,
    )


def _read(path: str | Path, *, labelled: bool, image_size: int, channels: int) -> RoundData:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        data = _read_folder(path, labelled=labelled, image_size=image_size, channels=channels)
    elif path.suffix.lower() in (".npz", ".npy", ".h5", ".hdf5"):
        data = _read_arrays(path, labelled=labelled, image_size=image_size, channels=channels)
    else:
        raise InputError(f"{path}: unsupported input; give a folder of PNG/JPEG images, or a .npz, .npy or .h5 file")
    bad = np.flatnonzero(~np.isfinite(data.images).reshape(len(data.images), -1).all(axis=1))
    if bad.size:
        raise InputError(f"{path}: image {data.ids[bad[0]]!r} has NaN or infinite pixels")
    return data


def read_labelled(path: str | Path, *, image_size: int, channels: int) -> RoundData:
    """Round-0 data: a folder with one subfolder per class, or arrays with 'images' and 'labels'."""
    return _read(path, labelled=True, image_size=image_size, channels=channels)


def read_batch(path: str | Path, *, image_size: int, channels: int) -> RoundData:
    """A night's unlabelled batch: a flat folder of images, or arrays with 'images' (labels ignored)."""
    return _read(path, labelled=False, image_size=image_size, channels=channels)

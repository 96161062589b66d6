import h5py
import numpy as np
import pytest

from ahunt.errors import StoreError
from ahunt.store.images import RoundData, Store


def _round(n=5, start=0, c=1, size=8, labels=True):
    rng = np.random.default_rng(start)
    return RoundData(
        images=rng.random((n, c, size, size), dtype=np.float32),
        ids=np.array([f"obj-{start + i}" for i in range(n)], dtype=object),
        labels=np.array(["a", "b"] * (n // 2) + ["a"] * (n % 2), dtype=object) if labels else None,
        truth=np.array(["a"] * n, dtype=object),
        ra=rng.uniform(0, 360, n),
        dec=rng.uniform(-90, 90, n),
    )


def test_round_trip(tmp_path):
    store = Store(tmp_path / "s.h5")
    first, second = _round(5, 0), _round(7, 100, labels=False)
    assert store.add_round(first) == 0
    assert store.add_round(second) == 1
    assert store.n_rounds() == 2 and store.round_size(1) == 7
    back = store.load_round(0)
    np.testing.assert_array_equal(back.images, first.images)
    assert back.ids.tolist() == first.ids.tolist()
    assert back.labels.tolist() == first.labels.tolist()
    np.testing.assert_allclose(back.ra, first.ra)
    assert store.load_round(1).labels is None
    np.testing.assert_array_equal(store.load_images(1, [4, 0, 4]), second.images[[4, 0, 4]])
    assert store.find("obj-103") == (1, 3)
    with h5py.File(tmp_path / "s.h5") as f:
        ds = f["rounds/0001/images"]
        assert ds.chunks is not None and ds.compression == "lzf"


def test_duplicate_ids_rejected_and_store_unchanged(tmp_path):
    store = Store(tmp_path / "s.h5")
    store.add_round(_round(5, 0))
    with pytest.raises(StoreError, match="'obj-3' is already in the store"):
        store.add_round(_round(5, 3))
    assert store.n_rounds() == 1
    dup = _round(3, 50)
    dup.ids[2] = dup.ids[0]
    with pytest.raises(StoreError, match="duplicate object id 'obj-50'"):
        store.add_round(dup)
    assert store.n_rounds() == 1


def test_bad_images_rejected(tmp_path):
    store = Store(tmp_path / "s.h5")
    store.add_round(_round(4, 0))
    with pytest.raises(StoreError, match="do not match"):
        store.add_round(_round(4, 10, size=16))
    nan = _round(4, 20)
    nan.images[1, 0, 2, 2] = np.nan
    with pytest.raises(StoreError, match="NaN"):
        store.add_round(nan)
    assert store.n_rounds() == 1


def test_failed_write_leaves_no_partial_round(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.h5")
    store.add_round(_round(4, 0))
    original = h5py.Group.create_dataset

    def failing(self, name, *args, **kwargs):
        if name == "truth":
            raise OSError("disk full")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError):
        store.add_round(_round(4, 10))
    monkeypatch.undo()
    assert store.n_rounds() == 1
    with h5py.File(tmp_path / "s.h5") as f:
        assert list(f) == ["rounds"]
    assert store.add_round(_round(4, 10)) == 1


def test_missing_round_and_file(tmp_path):
    with pytest.raises(StoreError, match="not found"):
        Store(tmp_path / "none.h5").load_round(0)
    store = Store(tmp_path / "s.h5")
    store.add_round(_round(2, 0))
    with pytest.raises(StoreError, match="round 3 does not exist"):
        store.load_round(3)


def test_lazy_images_score_like_loaded_ones(tmp_path):
    import torch

    from ahunt.learn.model import HuntNet, ModelArgs
    from ahunt.learn.train import score

    store = Store(tmp_path / "s.h5")
    data = _round(700, 0, size=32)
    store.add_round(data)
    torch.manual_seed(0)
    model = HuntNet(ModelArgs(n_classes=3, image_size=32)).eval()
    p_mem, z_mem = score(model, store.load_round(0).images, device=torch.device("cpu"), batch_size=256)
    with store.lazy_images(0) as images:
        assert isinstance(images, h5py.Dataset)  # nothing read yet
        p_lazy, z_lazy = score(model, images, device=torch.device("cpu"), batch_size=256)
    np.testing.assert_allclose(p_lazy, p_mem, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(z_lazy, z_mem, rtol=1e-6, atol=1e-6)


def test_a_round_written_in_pieces_reads_back_whole(tmp_path):
    store = Store(tmp_path / "s.h5")
    pieces = [_round(5, 0), _round(3, 5), _round(4, 8)]
    r, n = store.add_round_pieces(iter(pieces))
    assert (r, n) == (0, 12)
    back = store.load_round(0)
    whole = RoundData.concat(pieces)
    assert np.array_equal(back.images, whole.images)
    assert back.ids.tolist() == whole.ids.tolist() and back.labels.tolist() == whole.labels.tolist()


@pytest.mark.parametrize("bad, message", [
    (lambda: _round(2, 0), "object id 'obj-0' is already in the store"),  # clashes with round 0
    (lambda: _round(2, 22), "duplicate object id 'obj-22' within the round"),  # clashes with piece 1
    (lambda: _round(2, 30, labels=False), "columns"),
    (lambda: _round(2, 30, size=16), "do not match"),
])
def test_a_bad_late_piece_stores_nothing(tmp_path, bad, message):
    store = Store(tmp_path / "s.h5")
    store.add_round(_round(5, 0))

    def pieces():
        yield _round(3, 20)
        yield bad()

    with pytest.raises(StoreError, match=message):
        store.add_round_pieces(pieces())
    assert store.n_rounds() == 1
    with h5py.File(store.path, "r") as f:
        assert list(f) == ["rounds"]  # no staging group left behind
    assert store.add_round_pieces(iter([_round(2, 40)])) == (1, 2)  # and the store still takes rounds


def test_an_interrupted_ingest_stores_nothing(tmp_path):
    store = Store(tmp_path / "s.h5")

    def pieces():
        yield _round(3, 0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.add_round_pieces(pieces())
    assert store.n_rounds() == 0


def test_duplicate_check_reads_the_id_index_not_the_stored_id_lists(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.h5")
    store.add_round(_round(5, 0))
    store.add_round(_round(5, 100, labels=False))
    assert store.index_path.exists()

    def no_id_lists(self, *args, **kwargs):
        raise AssertionError("an old round's id list was read")

    monkeypatch.setattr(h5py.Dataset, "asstr", no_id_lists)
    with pytest.raises(StoreError, match="'obj-102' is already in the store"):
        store.add_round(_round(5, 102, labels=False))
    assert store.add_round(_round(3, 200, labels=False)) == 2
    assert store.find("obj-201") == (2, 1)
    assert store.locate(["obj-4", "nope", "obj-100"]) == {"obj-4": (0, 4), "obj-100": (1, 0)}


def test_id_index_follows_the_store_after_a_crash_or_loss(tmp_path, monkeypatch):
    from ahunt.store.images import IdIndex

    store = Store(tmp_path / "s.h5")
    store.add_round(_round(5, 0))

    def crash(self, r, ids):
        raise KeyboardInterrupt  # killed after the round was stored, before it was indexed

    monkeypatch.setattr(IdIndex, "add_round", crash)
    with pytest.raises(KeyboardInterrupt):
        store.add_round(_round(4, 100, labels=False))
    monkeypatch.undo()
    assert store.n_rounds() == 2
    with pytest.raises(StoreError, match="'obj-101' is already in the store"):  # indexed on next use
        store.add_round(_round(2, 101, labels=False))
    # Entries of a round the store lacks (a stale index) do not block its ids.
    IdIndex(store.index_path).add_round(7, ["obj-300"])
    assert store.add_round(_round(1, 300, labels=False)) == 2
    # A deleted or damaged index is rebuilt.
    store.index_path.write_bytes(b"not a database" * 100)
    assert store.find("obj-103") == (1, 3)
    store.index_path.unlink()
    with pytest.raises(StoreError, match="'obj-300' is already in the store"):
        store.add_round(_round(1, 300, labels=False))
    with pytest.raises(StoreError, match="'obj-999' is not in the store"):
        store.find("obj-999")


def test_a_simulated_survey_cache_leaves_no_index_of_its_temporary_store(tmp_path):
    import dataclasses

    from ahunt.sources.simulated import SimulatedSurvey
    from conftest import tiny_config

    cfg = dataclasses.replace(tiny_config().survey, nights=1, initial={"elliptical": 2}, nightly={"spiral": 2})
    survey = SimulatedSurvey(cfg, image_size=16, cache_dir=tmp_path)
    survey.ensure()
    assert [p.name for p in tmp_path.iterdir()] == [survey.cache_path.name]


def test_the_store_keeps_where_round_0_came_from_and_older_stores_are_read_by_their_ids(tmp_path):
    from ahunt.sources.simulated import is_simulated_hunt

    def store_with(ids, origin):
        data = _round(len(ids))
        data = RoundData(images=data.images, ids=np.array(ids, dtype=object), labels=data.labels)
        store = Store(tmp_path / f"{origin}-{ids[0]}.h5")
        store.add_round(data)
        if origin is not None:
            store.mark_origin(origin)
        return store

    sim_ids, file_ids = [f"sim-00-{i:04d}" for i in range(4)], [f"obj-{i}" for i in range(4)]
    simulated = store_with(sim_ids, "simulated")
    assert simulated.origin() == "simulated" and is_simulated_hunt(simulated)
    assert not is_simulated_hunt(store_with(sim_ids, "file"))  # a file with simulator-like ids
    older = store_with(sim_ids, None)  # written before the origin was kept: judged by its ids
    assert older.origin() is None and is_simulated_hunt(older)
    assert not is_simulated_hunt(store_with(file_ids, None))

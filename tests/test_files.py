import matplotlib.image as mpimg
import numpy as np
import pytest

from ahunt.errors import StoreError
from ahunt.sources.files import read_batch, read_labelled, to_model_input


def _png_folder(root, classes=("a", "b"), n=3, size=24, rgb=False):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            img = rng.random((size, size, 3) if rgb else (size, size))
            mpimg.imsave(root / c / f"{c}{i}.png", img, cmap=None if rgb else "gray")
    return root


def test_labelled_png_folder(tmp_path):
    data = read_labelled(_png_folder(tmp_path / "known"), image_size=16, channels=1)
    assert data.images.shape == (6, 1, 16, 16) and data.images.dtype == np.float32
    assert 0 <= data.images.min() and data.images.max() <= 1
    assert data.labels.tolist() == ["a"] * 3 + ["b"] * 3
    assert data.ids.tolist()[0] == "a/a0"


def test_flat_folder_batch_and_channels(tmp_path):
    folder = tmp_path / "night"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        mpimg.imsave(folder / f"obj{i}.png", rng.random((30, 30, 3)))
    data = read_batch(folder, image_size=32, channels=3)
    assert data.images.shape == (4, 3, 32, 32) and data.labels is None
    assert data.ids.tolist() == ["obj0", "obj1", "obj2", "obj3"]
    grey = read_batch(folder, image_size=32, channels=1)
    np.testing.assert_allclose(grey.images[:, 0], data.images.mean(axis=1), atol=1e-5)


def test_grey_to_rgb_replicates():
    x = to_model_input(np.arange(16, dtype=np.uint8).reshape(1, 4, 4), image_size=4, channels=3)
    assert x.shape == (1, 3, 4, 4)
    assert np.array_equal(x[0, 0], x[0, 2]) and x.max() == pytest.approx(15 / 255)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: (p / "empty").mkdir() or p / "empty", ["no class subfolders"]),
        (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", ["unsupported input"]),
        (lambda p: p / "nothing.npz", ["no such file"]),
        (lambda p: (p / "bad.npz").write_bytes(b"not a zip") and p / "bad.npz", ["cannot read"]),
        (lambda p: np.savez(p / "nolab.npz", images=np.zeros((2, 4, 4))) or p / "nolab.npz", ["'labels'"]),
    ],
)
def test_bad_inputs_name_the_file(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(StoreError) as info:
        read_labelled(path, image_size=8, channels=1)
    assert str(path) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_corrupt_png_named(tmp_path):
    folder = _png_folder(tmp_path / "known")
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(StoreError, match="broken.png: cannot read image"):
        read_labelled(folder, image_size=8, channels=1)

"""Store: the image store (HDF5), the answer log (SQLite), labelled pixels, and the workspace that holds them."""

# The old module ahunt.store is ahunt.store.images now; its names are still handed out here,
# imported on first use (so that importing the package stays light).
_IMAGES = ("RoundData", "RoundWriter", "Store", "IdIndex", "ScoreStore", "LazyImages", "ImageBlocks")


def __getattr__(name: str):
    if name in _IMAGES:
        import importlib

        return getattr(importlib.import_module("ahunt.store.images"), name)
    raise AttributeError(f"module 'ahunt.store' has no attribute {name!r}")

"""Store: the image store (HDF5), the answer log (SQLite), labelled pixels, and the workspace that holds them."""

"""Arrays of images -> the network's input: float32 (N, channels, size, size).

Every reader ends here (files, FITS, Galaxy10, MNIST, simulations), so the rules for bands,
types and sizes are the same whatever the data came from.
"""

from __future__ import annotations

import warnings

import numpy as np

from ahunt.errors import AhuntWarning, InputError

__all__ = ["to_model_input"]


def to_model_input(images: np.ndarray, *, image_size: int, channels: int, source: str = "") -> np.ndarray:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) -> float32 (N, channels, image_size, image_size)."""
    import torch
    import torch.nn.functional as F

    x = np.asarray(images)
    if np.iscomplexobj(x):
        raise InputError(f"{source}: images are complex numbers ({x.dtype}); ahunt reads real-valued images "
                         "(save np.abs(images) or images.real instead)")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] > 4 and x.shape[-1] <= 4:
        x = np.moveaxis(x, -1, 1)
    elif x.ndim == 4 and x.shape[1] > 4:
        # As for a FITS cube of 5 planes: guessing which bands to keep would change the science.
        raise InputError(f"{source}: images of shape {x.shape[1:]} have {x.shape[-1]} planes; ahunt reads 1 "
                         "(grey), 2-3 (bands, e.g. g r z) or 4 (RGBA) planes per image; keep the bands you want "
                         "first, e.g. images[..., [1, 2, 3]]")
    elif x.ndim != 4:
        raise InputError(f"{source}: images must be (N, H, W) or (N, H, W, C); got shape {x.shape}")
    if x.shape[0] and min(x.shape[2:]) < 1:
        raise InputError(f"{source}: images of shape {x.shape[1:]} have no pixels")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    elif x.dtype == bool:
        x = x.astype(np.float32)
    x = x.astype(np.float32)
    if x.shape[1] == 4:  # drop alpha
        x = x[:, :3]
    if x.shape[1] != channels:
        # grey <-> colour: replicate grey, or average the bands to grey (then replicate for RGB)
        if x.shape[1] != 1:
            what = ("for this hunt's 1-channel model ([model] channels = 3 keeps colour)" if channels == 1 else
                    f"then copied to the model's {channels} channels (only 1 or 3 bands map onto them directly)")
            warnings.warn(f"images with {x.shape[1]} bands are averaged to grey {what}", AhuntWarning, stacklevel=2)
            x = x.mean(axis=1, keepdims=True)
        if channels != 1:
            x = np.repeat(x, channels, axis=1)
    if x.shape[2:] != (image_size, image_size):
        t = torch.from_numpy(np.ascontiguousarray(x))
        x = F.interpolate(t, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False).numpy()
    return np.ascontiguousarray(x, dtype=np.float32)

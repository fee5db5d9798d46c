"""Pixel conventions shared by every stage.

Public arrays are ``(H, W, 3)`` RGB, ``uint8`` (or ``uint16`` for 16-bit photos), sRGB
encoded. Inside a stage, pixels are ``float32`` in ``[0, 1]``. :func:`to_float` and
:func:`from_float` are the one pair of helpers that convert, rounding and clipping.
Points are ``(x, y)`` float pixels, origin top-left, pixel centres on integers; sizes are
``(h, w)``.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def to_float(pixels: np.ndarray) -> np.ndarray:
    """Integer pixels to ``float32`` in ``[0, 1]``.

    Args:
        pixels: ``(..., C)`` ``uint8`` or ``uint16`` array.

    Returns:
        ``float32`` array of the same shape, ``0`` black and ``1`` the dtype's maximum.
    """
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) * np.float32(1.0 / 255.0)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) * np.float32(1.0 / 65535.0)
    if pixels.dtype == np.float32:
        return pixels
    raise InputError(f"expected uint8 or uint16 pixels, got {pixels.dtype}")


def from_float(values: np.ndarray, dtype: np.dtype | type = np.uint8) -> np.ndarray:
    """``float`` values in ``[0, 1]`` to ``uint8`` or ``uint16``, rounded and clipped."""
    dtype = np.dtype(dtype)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(dtype)
    if scale is None:
        raise InputError(f"can only convert to uint8 or uint16, not {dtype}")
    out = values * np.float32(scale) + np.float32(0.5)
    np.clip(out, 0, scale, out=out)
    return out.astype(dtype)


def as_rgb(pixels: np.ndarray, name: str = "image") -> np.ndarray:
    """Check a caller's array and return it as ``(H, W, 3)`` ``uint8``/``uint16`` RGB.

    Greyscale ``(H, W)`` is repeated into three channels and an alpha channel
    ``(H, W, 4)`` is dropped; anything else raises :class:`InputError`.
    """
    arr = np.asarray(pixels)
    if arr.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"{name} must be a uint8 (or uint16) RGB array, got dtype {arr.dtype}; "
            "convert with mien.image.from_float if it holds floats in [0, 1]"
        )
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(f"{name} must have shape (H, W, 3), got {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if min(arr.shape[:2]) < 16:
        raise InputError(f"{name} is only {arr.shape[1]}x{arr.shape[0]} pixels; use a real photo")
    return np.ascontiguousarray(arr)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """``uint8`` or ``uint16`` RGB to ``uint8``, rounded (the view face analysis uses)."""
    if pixels.dtype == np.uint8:
        return pixels
    return from_float(to_float(pixels), np.uint8)


def blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``(h, w[, C])`` ``float32`` values, fast for large ``sigma``.

    For ``sigma`` above a few pixels the values are shrunk (area averaging), blurred with
    the proportionally smaller Gaussian and enlarged again: the result differs from an
    exact blur by far less than the blur itself, at a fraction of the cost.
    """
    import cv2

    if sigma <= 0:
        return values
    h, w = values.shape[:2]
    k = int(max(1, min(sigma / 3.0, min(h, w) / 8)))
    if k <= 1:
        return cv2.GaussianBlur(values, (0, 0), sigma)
    small = cv2.resize(values, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    sx, sy = w / small.shape[1], h / small.shape[0]
    inner = np.sqrt(max(sigma**2 - (k**2) / 12.0, 0.25)) / ((sx + sy) / 2)
    small = cv2.GaussianBlur(small, (0, 0), inner)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def shrink(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale ``(h, w[, C])`` to ``size`` ``(w, h)`` without aliasing, quickly.

    Halves with ``cv2.pyrDown`` (a Gaussian low-pass) while the image is at least twice
    the wanted size, then finishes with area averaging.
    """
    import cv2

    out = pixels
    while out.shape[1] >= 2 * size[0] and out.shape[0] >= 2 * size[1]:
        out = cv2.pyrDown(out)
    if (out.shape[1], out.shape[0]) != tuple(size):
        out = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
    return out

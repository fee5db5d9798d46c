"""Colour casts and exposure changes, to check edits under light other than a studio's.

A cast is a per-channel gain in linear light (sRGB decoded), as a different white
balance or exposure would give; the result is encoded back to sRGB and clipped, so an
over-exposed cast also loses highlights the way a camera does.
"""

from __future__ import annotations

import numpy as np

from ..image import from_float, to_float
from ..sclera import encode, linear

#: Linear-light RGB gains of each cast.
CASTS: dict[str, tuple[float, float, float]] = {
    "warm": (1.30, 1.0, 0.55),     # tungsten light on a daylight white balance
    "cool": (0.80, 0.97, 1.30),    # shade / overcast on a tungsten white balance
    "green": (0.85, 1.15, 0.85),   # fluorescent tubes
    "dim": (0.35, 0.35, 0.35),     # under-exposed by 1.5 stops
    "bright": (1.9, 1.9, 1.9),     # over-exposed by ~1 stop
}


def colour_cast(pixels: np.ndarray, cast: str | tuple[float, float, float]) -> np.ndarray:
    """``pixels`` (``(H, W, 3)`` integer RGB) under a cast: a name from :data:`CASTS` or
    three linear-light gains. Returns the same shape and dtype."""
    gains = np.asarray(CASTS[cast] if isinstance(cast, str) else cast, np.float32)
    return from_float(np.clip(encode(linear(to_float(pixels)) * gains), 0.0, 1.0), pixels.dtype)

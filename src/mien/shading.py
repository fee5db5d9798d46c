"""Shading that comes with an expression: the smile's expression ratio image.

``data/smile_shading.npz`` (``scripts/build_shading.py``) holds the mean log ratio of
smiling to neutral skin over the London pairs, in a canonical texture frame whose
landmarks are the mean neutral face seen from the front. Mapping it onto an edited face is
one more field over the edit's own target mesh (:class:`mien.scene.Shading`): the
texture frame plays the part of a source image whose landmarks sit at
:func:`texture_landmarks`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from .scene import Shading

#: Side of the canonical texture frame, pixels.
TEXTURE_SIZE = 256


@lru_cache(maxsize=1)
def texture_landmarks() -> np.ndarray:
    """``(478, 2)`` the mean neutral face, frontal, in texture-frame pixels."""
    from .expression import model

    p = model().neutral_mean[:, :2] * [1.0, -1.0]
    lo, hi = p.min(axis=0), p.max(axis=0)
    scale = 0.86 * TEXTURE_SIZE / (hi - lo).max()
    return (p - (lo + hi) / 2) * scale + (TEXTURE_SIZE - 1) / 2


@lru_cache(maxsize=1)
def smile_log_ratio() -> np.ndarray:
    """``(256, 256, 3)`` ``float32`` mean log ratio smiling / neutral (0 = no change)."""
    with resources.files("mien").joinpath("data/smile_shading.npz").open("rb") as fh:
        data = np.load(fh)
        return data["log_ratio_q"].astype(np.float32) * float(data["scale"])


def smile(amount: float) -> Shading:
    """The smile's shading at ``amount``."""
    return Shading(smile_log_ratio(), texture_landmarks(), float(amount))

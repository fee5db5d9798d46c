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
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .scene import Shading

if TYPE_CHECKING:
    from .expression import Expression
    from .session import FaceState

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


@lru_cache(maxsize=1)
def _smile_in_crease_frame() -> np.ndarray:
    """``(FRAME, FRAME, 3)`` the smile's log ratio resampled into :mod:`mien.creases`' frame."""
    from .creases import FRAME

    return cv2.resize(smile_log_ratio(), (FRAME, FRAME), interpolation=cv2.INTER_LINEAR)


def for_change(state: "FaceState", change: "Expression", target: np.ndarray, *,
               creases: bool = True) -> Shading | None:
    """The shading an expression change brings to one face: the learned smile shading
    for the code's ``"smile"`` (any sign: removing a smile removes its shading) plus the
    creases its Action Units fold into the skin (:mod:`mien.creases`), as one log-ratio
    map applied at amount 1.

    Args:
        state: the face being edited (its photo's light, contrast and sharpness shape
            the creases; measured once per face).
        change: the code change of the request.
        target: ``(478, 2+)`` target landmarks (pixels): where the warp compresses the
            skin, folds deepen.
        creases: add the AU creases (``False``: the smile shading only).

    Returns:
        A :class:`Shading` in the crease frame, or ``None`` when the change brings none.
    """
    from . import creases as cr

    smile_amount = float(change.values.get("smile", 0.0))
    folds = cr.crease_log_ratio(state, change, target) if creases else None
    if folds is None:
        return smile(smile_amount) if smile_amount else None
    log_ratio = cr.to_rgb(folds)
    if smile_amount:
        log_ratio = cv2.scaleAdd(_smile_in_crease_frame(), smile_amount, log_ratio)
    return Shading(log_ratio, cr.frame_landmarks(), 1.0)

"""Time: smoothing per-frame quantities of a video before any geometry is made (seed 003).

Landmarks fitted frame by frame jitter by a pixel or so; an expression code read from
them jitters too. Seed 003 averages the edited coefficients of frames ``t-1, t, t+1``
with the weights of a Hanning window; :func:`hanning_weights` generalises that to a
radius (``0``: off, ``1``: seed 003). Codes are smoothed as vectors; a head pose
(:class:`mien.expression.Frame`) by averaging scale, translation and rotation matrices
and projecting back to a rotation. Frames on the other side of a scene cut or a lost
track never enter a window: each value carries the segment it belongs to.
"""

from __future__ import annotations

import numpy as np

from .expression import Expression, Frame, model


def hanning_weights(radius: int) -> np.ndarray:
    """``(2 * radius + 1,)`` ``float64`` weights summing to 1: a Hanning window whose zero
    end points lie just outside the window (radius 1: ``0.25, 0.5, 0.25``)."""
    r = int(radius)
    if r < 0:
        raise ValueError("radius must be >= 0")
    w = np.hanning(2 * r + 3)[1:-1]
    return w / w.sum()


def code_vector(code: Expression) -> np.ndarray:
    """``(D,)`` ``float64`` a code over all directions of :func:`mien.expression.model`."""
    directions = model().directions
    out = np.zeros(len(directions))
    index = {n: i for i, n in enumerate(directions)}
    for name, value in code.values.items():
        out[index[name]] = value
    return out


def vector_code(vector: np.ndarray) -> Expression:
    """The inverse of :func:`code_vector` (zero amounts dropped)."""
    return Expression({n: float(v) for n, v in zip(model().directions, vector) if abs(v) > 1e-9})


def smooth_at(values: list, segments: list[int], centre: int, radius: int, average):
    """The value at ``centre`` averaged with its neighbours of the same segment.

    Args:
        values: per-frame values (any type ``average`` accepts).
        segments: per-frame segment number; only frames with the centre's segment count.
        centre: index into ``values``.
        radius: Hanning radius (:func:`hanning_weights`); the window is cut at the ends
            and at segment changes and renormalised.
        average: ``average(values, weights)`` for the values' type.
    """
    if radius <= 0:
        return values[centre]
    w = hanning_weights(radius)
    picked, weights = [], []
    for k in range(-radius, radius + 1):
        j = centre + k
        if 0 <= j < len(values) and segments[j] == segments[centre] and values[j] is not None:
            picked.append(values[j])
            weights.append(w[k + radius])
    weights = np.asarray(weights) / np.sum(weights)
    return average(picked, weights)


def average_codes(codes: list[Expression], weights: np.ndarray) -> Expression:
    """Weighted mean of codes (codes are linear)."""
    return vector_code(np.tensordot(weights, np.stack([code_vector(c) for c in codes]), axes=1))


def average_frames(frames: list[Frame], weights: np.ndarray) -> Frame:
    """Weighted mean of head poses: scale and translation averaged, rotation matrices
    averaged and projected back to the nearest rotation (SVD)."""
    scale = float(np.dot(weights, [f.scale for f in frames]))
    translation = np.tensordot(weights, np.stack([f.translation for f in frames]), axes=1)
    mean = np.tensordot(weights, np.stack([f.rotation for f in frames]), axes=1)
    u, _, vt = np.linalg.svd(mean)
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        u[:, -1] *= -1
        rotation = u @ vt
    return Frame(scale, rotation, translation)


def fade_weights(usable: list[bool], fade: int) -> np.ndarray:
    """``(N,)`` edit weights in ``[0, 1]``: 0 on unusable frames, rising linearly to 1
    over ``fade`` frames on either side of them (the edit fades out before a frame that
    cannot be edited and back in after it)."""
    n = len(usable)
    out = np.ones(n)
    bad = np.flatnonzero(~np.asarray(usable, bool))
    if bad.size == 0:
        return out
    idx = np.arange(n)
    pos = np.searchsorted(bad, idx)
    before = np.where(pos > 0, idx - bad[np.maximum(pos - 1, 0)], n + fade)
    after = np.where(pos < bad.size, bad[np.minimum(pos, bad.size - 1)] - idx, n + fade)
    dist = np.minimum(before, after).astype(np.float64)
    return np.clip(dist / max(fade, 1), 0.0, 1.0)

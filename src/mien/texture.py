"""Texture: pixels that warping alone cannot show, taken from another photo and matched
to the target's illumination.

Illumination adaptation follows ExSHOT's idea with a classical estimator: the ratio of
low-pass-filtered images, per channel. Both images are averaged only over pixels where
they should agree (skin that the edit does not replace), with normalised convolution, so
teeth against closed lips or open eyes against closed lids do not bias the ratio; the
ratio is smooth and is applied to the transferred pixels at full resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from .image import blur

#: Bounds of the per-channel illumination gain.
GAIN_RANGE = (0.33, 3.0)


def masked_lowpass(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian average of ``image`` over pixels weighted by ``weight``.

    Args:
        image: ``(h, w, C)`` ``float32``.
        weight: ``(h, w)`` ``float32`` in ``[0, 1]``.
        sigma: Gaussian width in pixels.

    Returns:
        ``(h, w, C)`` ``float32``; where no weight is within reach, the weighted mean.
    """
    w = weight.astype(np.float32)
    num = blur(image * w[..., None], sigma)
    den = blur(w, sigma)[..., None]
    total = float(w.sum())
    mean = (image * w[..., None]).reshape(-1, image.shape[2]).sum(0) / max(total, 1e-6)
    floor = 1e-3
    return (num + floor * mean) / (den + floor)


def illumination_gain(target: np.ndarray, source: np.ndarray, weight: np.ndarray,
                      sigma: float) -> np.ndarray:
    """Per-pixel, per-channel gain that gives ``source`` the light of ``target``.

    The gain is smooth by construction, so it is estimated on copies shrunk to about a
    quarter of ``sigma`` per pixel and enlarged at the end.

    Args:
        target, source: ``(h, w, 3)`` ``float32`` in ``[0, 1]``, aligned (same geometry).
        weight: ``(h, w)`` where the two should look alike.
        sigma: low-pass width in pixels; larger keeps more of the source's own shading.

    Returns:
        ``(h, w, 3)`` ``float32`` gain, ``source * gain`` matches ``target``'s lighting.
    """
    h, w = weight.shape
    k = max(1.0, sigma / 4.0)
    size = (max(4, round(w / k)), max(4, round(h / k)))
    shrink = lambda a: cv2.resize(a, size, interpolation=cv2.INTER_AREA)  # noqa: E731
    t, s, wt = shrink(target), shrink(source), shrink(weight.astype(np.float32))
    eps = 1.0 / 255.0
    sig = sigma * size[0] / w
    gain = (masked_lowpass(t, wt, sig) + eps) / (masked_lowpass(s, wt, sig) + eps)
    gain = np.clip(gain, *GAIN_RANGE).astype(np.float32)
    return cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)


def brightness_gain(target: np.ndarray, source: np.ndarray, weight: np.ndarray,
                    strength: float = 0.75, limits: tuple[float, float] = (0.45, 1.2)) -> np.ndarray:
    """A single grey gain that moves ``source``'s brightness part-way to ``target``'s.

    For texture from another person: their skin differs from the target's, so only a
    damped (``strength``), bounded (``limits``) share of the luminance ratio is applied.

    Returns:
        ``(h, w, 3)`` ``float32`` constant gain.
    """
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    w = weight.astype(np.float32)
    total = max(float(w.sum()), 1e-6)
    lt = float(((target @ luma) * w).sum() / total)
    ls = float(((source @ luma) * w).sum() / total)
    g = float(np.clip(((lt + 1e-3) / (ls + 1e-3)) ** strength, *limits))
    return np.full(target.shape, g, np.float32)

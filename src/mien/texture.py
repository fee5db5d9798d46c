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
    num = cv2.GaussianBlur(image * w[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)[..., None]
    total = float(w.sum())
    mean = (image * w[..., None]).reshape(-1, image.shape[2]).sum(0) / max(total, 1e-6)
    floor = 1e-3
    return (num + floor * mean) / (den + floor)


def illumination_gain(target: np.ndarray, source: np.ndarray, weight: np.ndarray,
                      sigma: float) -> np.ndarray:
    """Per-pixel, per-channel gain that gives ``source`` the light of ``target``.

    Args:
        target, source: ``(h, w, 3)`` ``float32`` in ``[0, 1]``, aligned (same geometry).
        weight: ``(h, w)`` where the two should look alike.
        sigma: low-pass width in pixels; larger keeps more of the source's own shading.

    Returns:
        ``(h, w, 3)`` ``float32`` gain, ``source * gain`` matches ``target``'s lighting.
    """
    eps = 1.0 / 255.0
    lo_t = masked_lowpass(target, weight, sigma)
    lo_s = masked_lowpass(source, weight, sigma)
    return np.clip((lo_t + eps) / (lo_s + eps), *GAIN_RANGE).astype(np.float32)

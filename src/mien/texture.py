"""Texture: pixels that warping alone cannot show, taken from another photo and matched
to the target's illumination.

Illumination adaptation follows ExSHOT's idea with a classical estimator: the ratio of
low-pass-filtered images, per channel. Both images are averaged only over pixels where
they should agree (skin that the edit does not replace), with normalised convolution, so
teeth against closed lips or open eyes against closed lids do not bias the ratio; the
ratio is smooth and is applied to the transferred pixels at full resolution. That needs
the same person in both photos; texture from another person (a donor's teeth) is instead
carried from its own photo's eye whites to the edited photo's (:func:`white_gain`).
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


#: A gain in linear light ``g`` acts on sRGB-encoded pixels as ``g ** (1 / SRGB_GAMMA)``
#: (exact for a pure power curve; the sRGB curve's short linear toe only matters in deep
#: shadow).
SRGB_GAMMA = 2.2
#: Bounds of the linear-light luminance gain from one photo's white to another's.
WHITE_LUMINANCE_RANGE = (0.15, 6.0)
#: Largest log colour (chroma) gain: casts beyond ~2.5x between channels are not followed.
WHITE_CHROMA_MAX = 0.9
#: How far (log, per channel) the sclera's colour gain may stray from the skin's: skin
#: colour against sclera varies between people by about +-0.15 (London, 12 people).
SKIN_CHECK = 0.3
#: Share of the skin's luminance and colour gain used when the sclera is not seen (skin
#: differs between people; teeth and eye whites differ far less).
SKIN_STRENGTH = (0.5, 0.75)
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def _split(log_gain: np.ndarray) -> tuple[float, np.ndarray]:
    """A log gain ``(3,)`` as its luminance part and the colour part left over."""
    lum = float(log_gain @ _LUMA)
    return lum, log_gain - lum


def white_gain(target_white: np.ndarray, source_white: np.ndarray, confidence: float,
               target_skin: np.ndarray, source_skin: np.ndarray) -> np.ndarray:
    """Per-channel gain that carries texture from one photo's light into another's.

    The texture keeps its colour relative to its own photo's white (the sclera): in
    linear light ``texture * target_white / source_white``, so teeth stay as much warmer
    than the eye whites as they were. The skin both photos show next to the texture is
    the check and the fallback:

    - the sclera's colour gain may differ from the skin's by at most :data:`SKIN_CHECK`
      per channel (log), so a misread eye white (reflections, red eyes) cannot tint
      the texture far from what the skin says;
    - with low ``confidence`` (closed eyes, sunglasses) the gain moves toward a damped
      skin gain (:data:`SKIN_STRENGTH`: skin differs between people, so only part of its
      luminance and colour ratio is trusted).

    The result is bounded (:data:`WHITE_LUMINANCE_RANGE`, :data:`WHITE_CHROMA_MAX`).

    Args:
        target_white, source_white: ``(3,)`` linear RGB sclera colours of the edited photo
            and of the texture's photo (:class:`mien.sclera.Sclera`).
        confidence: ``[0, 1]`` trust in both sclera measurements (the smaller of the two).
        target_skin, source_skin: ``(3,)`` linear RGB of skin that should look alike in
            both photos (the cheeks, :attr:`mien.sclera.Sclera.skin`).

    Returns:
        ``(3,)`` ``float32`` gain for sRGB-encoded pixels (``pixels * gain``).
    """
    eps = 1e-4
    ls, cs = _split(np.log((np.asarray(target_white, np.float64) + eps) / (np.asarray(source_white) + eps)))
    lk, ck = _split(np.log((np.asarray(target_skin, np.float64) + eps) / (np.asarray(source_skin) + eps)))
    cs = ck + np.clip(cs - ck, -SKIN_CHECK, SKIN_CHECK)
    w = float(np.clip(confidence, 0.0, 1.0))
    lum = w * ls + (1 - w) * SKIN_STRENGTH[0] * lk
    col = w * cs + (1 - w) * SKIN_STRENGTH[1] * ck
    lum = float(np.clip(lum, *np.log(WHITE_LUMINANCE_RANGE)))
    col = np.clip(col - col @ _LUMA, -WHITE_CHROMA_MAX, WHITE_CHROMA_MAX)
    return np.exp((lum + col) / SRGB_GAMMA).astype(np.float32)


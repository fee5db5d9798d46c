"""The eye whites (sclera) as a face's own white reference.

The sclera is a near-white, low-saturation surface lit by the same light as the rest of
the face, so its colour measures the light falling on the face: white balance and exposure
together. Texture from another photo (a donor's teeth) keeps its colour *relative to its
own photo's sclera* and is carried over to the edited photo's sclera
(:func:`mien.texture.white_gain`).

Colours here are in **linear light**: sRGB-encoded pixels in ``[0, 1]`` decoded with the
sRGB transfer function (:func:`linear`), so ratios of colours are ratios of light.

Measurement (:func:`measure`): per eye, pixels inside the eye contour (shrunk away from the
lids and lashes) and outside the iris circle (landmarks 468-477, enlarged), then the
brightest ones of the most typical colour, both ranked in log space so that the choice
does not depend on the light (a colour cast saturates the whole eye, so there is no
absolute saturation threshold), their per-channel median. Both eyes'
pixels are pooled. The confidence is low when few such pixels exist (closed or
narrowed eyes, small faces) or when they are not bright against the face's skin
(sunglasses, deep shadow).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import mesh
from .face import Face
from .image import to_float

#: Visible sclera pixels (both eyes together, after selection) per squared inter-ocular
#: distance that count as a fully confident measurement. Open eyes on London's 1350 px
#: frontal photos select ~0.0008-0.0015 iod^2 (12 people, neutral and happy; skin/sclera luminance ~0.6-1.3 for light skin, ~0.25 for dark).
FULL_AREA = 0.0008
#: The sclera's luminance against the cheeks' below which it is not trusted: from
#: (ratio - LOW) / (HIGH - LOW), clipped to ``[0, 1]`` (sunglasses read far below).
BRIGHTNESS_RATIO = (0.25, 0.55)
#: Eyes are measured on crops at most this many pixels wide (speed on 12 MP photos).
MAX_EYE_PX = 96


@dataclass(frozen=True, eq=False)
class Sclera:
    """A face's eye-white colour.

    Attributes:
        colour: ``(3,)`` ``float64`` linear RGB in ``[0, 1]`` (median of the selected pixels;
            a neutral grey guess when nothing was found).
        confidence: ``[0, 1]``: 1 for clearly visible, bright eye whites; near 0 for
            closed eyes, sunglasses or a tiny face.
        count: number of pixels selected (at the measuring resolution).
        area: the photo area they cover per squared inter-ocular distance.
        skin: ``(3,)`` ``float64`` linear RGB median of the cheeks (a check on the sclera
            and the fallback when it is not seen).
    """

    colour: np.ndarray
    confidence: float
    count: int
    area: float
    skin: np.ndarray


def linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in ``[0, 1]`` to linear light (IEC 61966-2-1), any shape, float."""
    srgb = np.asarray(srgb, np.float32)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def encode(lin: np.ndarray) -> np.ndarray:
    """Linear light to sRGB encoding (the inverse of :func:`linear`), any shape, float."""
    lin = np.clip(np.asarray(lin, np.float32), 0.0, None)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055).astype(np.float32)


def _crop(pixels: np.ndarray, points: np.ndarray, pad: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A crop around ``points`` ``(K, 2)`` grown by ``pad`` pixels, shrunk to at most
    :data:`MAX_EYE_PX` wide. Returns ``(linear float crop (h, w, 3), offset (2,), scale)``:
    a photo point ``p`` is at ``(p - offset) * scale`` in the crop."""
    h, w = pixels.shape[:2]
    x0, y0 = np.floor(points.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + pad).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((0, 0, 3), np.float32), np.array([x0, y0], np.float64), 1.0
    roi = pixels[y0:y1, x0:x1]
    scale = min(1.0, MAX_EYE_PX / (x1 - x0))
    if scale < 1.0:
        roi = cv2.resize(roi, (max(2, round((x1 - x0) * scale)), max(2, round((y1 - y0) * scale))),
                         interpolation=cv2.INTER_AREA)
        scale = roi.shape[1] / (x1 - x0)
    return linear(to_float(roi)), np.array([x0, y0], np.float64), scale


def eye_pixels(pixels: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
    """Candidate sclera pixels of both eyes.

    Returns:
        ``(colours, area)``: ``(N, 3)`` ``float32`` linear RGB and ``(N,)`` ``float32`` the
        photo area each stands for (pixels; eyes are measured on shrunk crops).

    Inside each eye contour shrunk away from the lids, outside the iris circle enlarged by
    a quarter; the candidates then still hold lashes, shadowed corners and caruncle, which
    :func:`measure` sorts out by log brightness and distance from the typical colour.
    """
    p = face.points.astype(np.float64)
    out, areas = [], []
    for contour, iris in ((mesh.LEFT_EYE, mesh.LEFT_IRIS), (mesh.RIGHT_EYE, mesh.RIGHT_IRIS)):
        poly = p[list(contour)]
        width = float(np.ptp(poly[:, 0]))
        if width < 4:
            continue
        crop, off, s = _crop(pixels, poly, 2.0)
        if crop.size == 0:
            continue
        mask = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round((poly - off) * s * 16).astype(np.int32)], 255, shift=4)
        # Away from lashes and lid shadow: erode by ~4 % of the eye's width.
        k = max(1, int(round(0.04 * width * s)))
        mask = cv2.erode(mask, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
        centre = p[iris[0]]
        radius = float(np.linalg.norm(p[list(iris[1:])] - centre, axis=1).mean())
        cx, cy = (centre - off) * s
        cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))), int(round(1.25 * radius * s * 16)), 0,
                   -1, shift=4)
        out.append(crop[mask > 0])
        areas.append(np.full(len(out[-1]), 1.0 / (s * s), np.float32))
    if not out:
        return np.zeros((0, 3), np.float32), np.zeros(0, np.float32)
    return np.concatenate(out), np.concatenate(areas)


def skin_colour(pixels: np.ndarray, face: Face) -> np.ndarray:
    """``(3,)`` ``float64`` linear median colour of both cheeks (below the eyes, beside
    the nose), or of the nose bridge if the cheeks are out of the photo."""
    p = face.points.astype(np.float64)
    # Cheek patches: around the points half-way between the lower eye lid and the mouth corner.
    patches = []
    iod = max(face.interocular, 1.0)
    for lid, corner in ((145, 61), (374, 291)):
        c = 0.55 * p[lid] + 0.45 * p[corner]
        r = 0.08 * iod
        crop, _, _ = _crop(pixels, np.array([c - r, c + r]), 0.0)
        if crop.size:
            patches.append(crop.reshape(-1, 3))
    if not patches:
        return np.full(3, 0.2)
    return np.median(np.concatenate(patches), axis=0).astype(np.float64)


def measure(pixels: np.ndarray, face: Face) -> Sclera:
    """The colour of ``face``'s visible sclera in ``pixels``, in linear light.

    Args:
        pixels: ``(H, W, 3)`` ``uint8``/``uint16`` RGB photo (sRGB encoded).
        face: a face in it (its eye contours and iris landmarks 468-477 are used).

    Returns:
        A :class:`Sclera`; with confidence 0 and a neutral colour (the skin's luminance)
        when no eye white is seen.
    """
    skin = skin_colour(pixels, face)
    cand, areas = eye_pixels(pixels, face)
    grey = float(skin @ np.array([0.2126, 0.7152, 0.0722]))
    if len(cand) < 8:
        return Sclera(np.full(3, max(grey, 1e-3)), 0.0, 0, 0.0, skin)
    # In log space a change of light adds the same vector to every pixel, so ranking by
    # log brightness and by distance from the typical colour picks the same pixels under
    # any white balance or exposure (a plain saturation ranking would prefer, under a
    # blue cast, the yellowish lid skin that the cast makes grey).
    logs = np.log(cand + 1e-3)
    level = logs.mean(axis=1)
    keep = level >= np.percentile(level, 60)  # the brightest 40 %
    bright, areas, logs = cand[keep], areas[keep], logs[keep]
    chroma = logs - logs.mean(axis=1, keepdims=True)
    dist = np.linalg.norm(chroma - np.median(chroma, axis=0), axis=1)
    keep = dist <= np.percentile(dist, 60)  # the 60 % of most typical colour
    chosen, areas = bright[keep], areas[keep]
    colour = np.median(chosen, axis=0).astype(np.float64)
    # Confidence: enough pixels for the face's size, and bright against the skin.
    iod = face.interocular
    area = float(areas.sum()) / max(FULL_AREA * iod * iod, 1.0)
    ratio = float(colour @ np.array([0.2126, 0.7152, 0.0722])) / max(grey, 1e-4)
    lo, hi = BRIGHTNESS_RATIO
    confidence = float(np.clip(area, 0, 1) * np.clip((ratio - lo) / (hi - lo), 0, 1))
    return Sclera(colour, confidence, int(len(chosen)), float(areas.sum()) / max(iod * iod, 1.0), skin)

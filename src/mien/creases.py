"""Creases and bulges driven by Action Units: wrinkle maps, as animated faces use them.

A warp moves skin; it cannot fold it. Where an expression bunches the skin up (a frown
between the brows, raised brows on the forehead, a wrinkled nose), a real face shows
creases: a dark groove where the skin folds in, and beside it a soft ridge of bunched
skin, lit on the side facing the light and shadowed on the other. This module draws
those as a log-ratio map (the form of :mod:`mien.shading`) in a canonical texture frame,
so they follow any face through its mesh.

* Each :class:`Fold` is a polyline on the mean frontal face, placed from landmarks
  (glabella furrows for AU4, forehead lines for AU1 in the centre and AU2 at the sides,
  crow's feet and the lower-lid bulge for AU6, nose-bridge and nose-root lines for AU9,
  the nasolabial fold for AU6/9/10/12, dimples for AU14, lip-corner creases for AU15,
  the chin's mentolabial groove and orange-peel dimpling for AU17 and, weaker, AU24).
  It has two parts: an *occlusion* profile (the groove's darkness, light-independent)
  and a *height* profile (a ridge of bunched skin notched by the groove), whose shading
  is Lambertian in the photo's own light: ``delta log I = -light . grad(height)``.
  Folds are drawn on first need (:func:`profile`), so an edit pays for those it drives.
* Per face, once (:func:`measure`, kept by :func:`face_folds`): the photo's dominant
  light direction (a robust fit of its low-frequency log luminance against the mean
  face's surface normals), its skin contrast and its blur (folds are blurred to it).
* Per request (:func:`crease_log_ratio`, ~1 ms): each fold's weight is its AUs'
  intensities in the code change times how much the warp compresses the skin there
  (per-triangle area ratio of target to source mesh, against what those AUs do on the
  mean face: more compression deepens a fold, stretching removes it).
  :func:`mien.shading.for_change` adds the learned smile shading and hands the renderer
  one map.

Conventions: the frame is :data:`FRAME` pixels square, a scaled copy of
:func:`mien.shading.texture_landmarks`' 256 px frame (x right as in a frontal photo, y
down); "left"/"right" in fold names are the subject's own (``R`` folds sit on the image's
left in a frontal view). Log ratios are natural logs of a multiplicative gain.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

from . import mesh
from .image import shrink, to_float

if TYPE_CHECKING:
    from .expression import Expression
    from .session import FaceState

#: Side of the crease frame, pixels (the 256 px shading frame is too coarse for creases
#: ~1 mm wide: there a forehead line would be ~1 px; here ~2.3 px per mm).
FRAME = 512

#: Per-channel weight of darkening (R, G, B): skin shadows keep their red (subsurface
#: scattering). Measured on the London smile ratio image at the nasolabial folds:
#: R/G 0.76-0.9, B/G 1.04-1.2.
DARK_RGB = np.array([0.82, 1.0, 1.1], np.float32)

#: What the measured smile (code direction ``"smile"``) stands for in AU terms, for the
#: folds its learned shading does not show (crow's feet), and for those it does show
#: (nasolabial fold, lower lid), so that AU6/AU12 creases do not double the smile's own.
SMILE_AS_AU = {"6": 0.5, "12": 1.0}

#: Compression (1 - area ratio) that counts as "much" for a fold whose own AUs barely
#: compress it (the denominator's floor in :func:`weights`).
KAPPA = 0.03
#: Largest depth a fold reaches from extra compression, in units of its reference depth.
MAX_COMPRESSION_GAIN = 1.6
#: How strongly compression beyond (or short of) the AUs' own changes a fold's depth:
#: the mesh prior fades the forehead's motion linearly to the hairline and does not
#: model the skin bunching between muscles pulling against each other (AU1 with AU4), so
#: half of the relative difference counts.
SENSITIVITY = 0.5
#: Folds saturate softly toward this depth (``MAX_DEPTH * tanh(w / MAX_DEPTH)``): skin
#: can only fold so deep.
MAX_DEPTH = 1.6

#: Overall depth of every fold (the fold table's darkening and slopes are relative):
#: set by eye on London, lisa and video crops so that intensity 1 reads as a clear,
#: posed expression's creases.
DEPTH = 1.0

#: Slope of a groove's own walls relative to its ridge's slope.
WALL = 0.35

#: Least reach of a fold's compression measure (inter-ocular units): triangles within
#: about this distance of the fold count.
SUPPORT_IOD = 0.07

#: Light strength assumed when the photo's own estimate is weaker (log-luminance change
#: per unit of normal tilt): even a flat-lit face shows which way its folds face.
MIN_LIGHT = 0.12
#: What :func:`measure` reads as the blur of a sharp photo (frame pixels): the
#: resampling's own (1.6-2.6 on 24 sharp London photos, 1350 px; 2.0 is taken off).
SHARP_BLUR = 2.0
#: Skin contrast (std of the band-passed log luminance on cheeks and forehead) of a
#: typical studio photo (median of the London neutral photos): contrast scales by the
#: photo's own contrast relative to this.
REF_CONTRAST = 0.039


def _iod() -> float:
    p = frame_landmarks()
    return float(np.linalg.norm(p[33] - p[263]))


def frame_landmarks() -> np.ndarray:
    """``(478, 2)`` ``float64`` the mean frontal face in crease-frame pixels."""
    from .shading import TEXTURE_SIZE, texture_landmarks

    f = FRAME / TEXTURE_SIZE
    return (texture_landmarks() + 0.5) * f - 0.5


@lru_cache(maxsize=1)
def _mirror() -> np.ndarray:
    """``(468,)`` index of each surface landmark's mirror image across the midline."""
    verts, _ = mesh.canonical()
    v = verts.astype(np.float64)
    m = v * [-1.0, 1.0, 1.0]
    d = np.linalg.norm(v[:, None, :] - m[None, :, :], axis=2)
    return d.argmin(axis=1)


# ----------------------------------------------------------------- fold definitions

@dataclass(frozen=True, eq=False)
class Fold:
    """One crease on the mean frontal face, in crease-frame pixels.

    Attributes:
        name: e.g. ``"glabella_R"`` (subject's right).
        drivers: ``{AU: weight}``; an AU's intensity counts on this side only for sided
            AUs (``"4"`` and ``"4R"`` both drive a right-side fold, ``"4L"`` does not).
        side: ``"L"``, ``"R"`` or ``""`` (a midline fold takes the mean of both sides).
        points: ``(K, 2)`` the fold's polyline (for ``kind == "peel"`` its centre and
            radii).
        groove: ``(sigma px, darkening)``: the groove's Gaussian width and its log-ratio
            darkening at drive 1 (before the photo's contrast).
        ridge: ``(sigma px, slope, offset)``: the bunched skin's Gaussian width, its
            largest slope (height per pixel) at drive 1, and its centre's offset from
            the groove in sigmas toward ``toward``.
        toward: ``(2,)`` the direction the ridge lies in from the groove.
        taper: fraction of the line's length over which it fades in at each end.
        kind: ``"line"``, or ``"peel"`` (chin dimpling: a patch of small pits).
        smile: the learned smile shading already shows this fold (nasolabial, lower lid).
        deepest: where along the line (fraction from its first point) it is deepest.
    """

    name: str
    drivers: dict
    side: str
    points: np.ndarray
    groove: tuple[float, float]
    ridge: tuple[float, float, float]
    toward: np.ndarray
    taper: float = 0.25
    kind: str = "line"
    smile: bool = False
    deepest: float = 0.5


def _pt(p: np.ndarray, iod: float, spec) -> np.ndarray:
    """A point from a spec: landmark ``i``, or ``(i, j, t)`` blend, plus ``(dx, dy)``
    inter-ocular units: ``(i, j, t, dx, dy)``."""
    if isinstance(spec, int):
        return p[spec]
    i, j, t, dx, dy = spec
    return (1 - t) * p[i] + t * p[j] + iod * np.array([dx, dy])


def _mirror_spec(spec, mirror: np.ndarray):
    if isinstance(spec, int):
        return int(mirror[spec])
    i, j, t, dx, dy = spec
    return (int(mirror[i]), int(mirror[j]), t, -dx, dy)


#: Fold layouts on the subject's right side (image left), mirrored for the left:
#: (name, drivers, point specs, groove (sigma, dark), ridge (sigma, slope, offset),
#: toward (image axes, right side), taper, smile). Widths are in inter-ocular units
#: (x FRAME-frame IOD at build time); a spec is a landmark or (i, j, t, dx, dy).
_LINES = [
    # Nasolabial fold: from above the nose wing, lateral of the mouth corner, down; the
    # raised cheek bulges on its lateral side.
    ("nasolabial", {"6": 0.35, "9": 0.4, "10": 0.7, "12": 0.7},
     [(49, 129, 0.5, -0.03, 0.0), 203, 206, (216, 92, 0.35, 0.0, 0.0), (57, 212, 0.3, 0.0, 0.0),
      (57, 212, 0.4, 0.0, 0.06)],
     (0.018, 0.15), (0.05, 0.2, 1.1), (-1.0, -0.3), 0.22, True, 0.35),
    # Lower-lid bulge: the pretarsal roll pushed up, its crease below.
    ("lower_lid", {"6": 0.7, "7": 0.4},
     [(7, 7, 0, 0.0, 0.085), (163, 163, 0, 0.0, 0.09), (144, 144, 0, 0.0, 0.095),
      (145, 145, 0, 0.0, 0.095), (153, 153, 0, 0.0, 0.09), (154, 154, 0, 0.0, 0.08)],
     (0.01, 0.06), (0.03, 0.16, 1.1), (0.0, -1.0), 0.3, True),
    # Crow's feet: a fan of short lines from the outer eye corner.
    ("crow_up", {"6": 1.0}, [(33, 33, 0, -0.075, -0.035), (33, 33, 0, -0.2, -0.1)],
     (0.006, 0.09), (0.016, 0.18, 0.0), (0.0, -1.0), 0.35, False, 0.3),
    ("crow_mid", {"6": 1.0}, [(33, 33, 0, -0.08, 0.005), (33, 33, 0, -0.23, 0.0)],
     (0.006, 0.10), (0.016, 0.18, 0.0), (0.0, -1.0), 0.35, False, 0.3),
    ("crow_low", {"6": 1.0}, [(33, 33, 0, -0.075, 0.045), (33, 33, 0, -0.2, 0.13)],
     (0.006, 0.08), (0.016, 0.18, 0.0), (0.0, -1.0), 0.35, False, 0.3),
    # Glabella: vertical furrow between the brows (corrugator).
    ("glabella", {"4": 1.0}, [(8, 8, 0, -0.05, 0.0), (9, 9, 0, -0.055, -0.01), (9, 9, 0, -0.065, -0.09)],
     (0.009, 0.13), (0.025, 0.22, 0.0), (-1.0, 0.0), 0.3, False, 0.25),
    # Nose-bridge lines (AU9): oblique over the side of the nose bridge.
    ("bunny_up", {"9": 1.0}, [(245, 245, 0, -0.01, -0.03), (6, 6, 0, -0.02, 0.04)],
     (0.007, 0.10), (0.018, 0.18, 0.0), (0.0, -1.0), 0.35, False),
    ("bunny_low", {"9": 1.0}, [(245, 245, 0, 0.0, 0.025), (197, 197, 0, -0.02, 0.05)],
     (0.007, 0.09), (0.018, 0.18, 0.0), (0.0, -1.0), 0.35, False),
    # Dimple (AU14): a short curved crease lateral of the mouth corner.
    ("dimple", {"14": 1.0}, [(61, 61, 0, -0.06, -0.045), (61, 61, 0, -0.075, 0.0), (61, 61, 0, -0.065, 0.045)],
     (0.01, 0.14), (0.025, 0.2, 1.0), (1.0, 0.0), 0.35, False),
    # Lip-corner crease (AU15): from the pulled-down corner, down and out.
    ("corner_down", {"15": 1.0}, [(61, 61, 0, -0.02, 0.025), (61, 61, 0, -0.05, 0.09), (61, 61, 0, -0.065, 0.15)],
     (0.012, 0.12), (0.03, 0.18, 1.0), (-1.0, 0.0), 0.3, False, 0.3),
]

#: Forehead lines: heights (inter-ocular units above the brow line at the midline) and the
#: AU that drives each part: the centre (AU1, "central-oblique": arched in the middle)
#: and each side (AU2).
_FOREHEAD_ROWS = (0.11, 0.2, 0.29)


def _forehead(p: np.ndarray, iod: float) -> list[tuple]:
    """Forehead line parts: (name, drivers, side, points, taper)."""
    mid = p[9]
    out = []
    for k, h in enumerate(_FOREHEAD_ROWS):
        y0 = mid[1] - h * iod
        # Lateral ends droop with the forehead's curve; the centre arches (AU1).
        xs = np.linspace(-0.5, 0.5, 21)
        ys = y0 + iod * (0.06 * (np.abs(xs) / 0.5) ** 2)
        line = np.stack([mid[0] + xs * iod, ys], axis=1)
        centre = np.abs(xs) <= 0.3
        arch = line[centre].copy()
        arch[:, 1] -= iod * 0.025 * (1 - (np.abs(xs[centre]) / 0.3) ** 2)
        out.append((f"forehead{k}_C", {"1": 1.0}, "", arch, 0.3))
        out.append((f"forehead{k}_R", {"2": 1.0}, "R", line[xs <= -0.14][::-1], 0.3))
        out.append((f"forehead{k}_L", {"2": 1.0}, "L", line[xs >= 0.14], 0.3))
    return out


@lru_cache(maxsize=1)
def folds() -> tuple[Fold, ...]:
    """Every fold, both sides, on the mean frontal face (crease-frame pixels)."""
    p = frame_landmarks()
    iod = float(np.linalg.norm(p[33] - p[263]))
    mirror = _mirror()
    out = []
    for name, drivers, specs, groove, ridge, toward, taper, smile, *rest in _LINES:
        for side in ("R", "L"):
            sp = specs if side == "R" else [_mirror_spec(s, mirror) for s in specs]
            pts = np.array([_pt(p, iod, s) for s in sp])
            tw = np.array(toward, np.float64) * ([1.0, 1.0] if side == "R" else [-1.0, 1.0])
            out.append(Fold(f"{name}_{side}", dict(drivers), side, pts,
                            (groove[0] * iod, groove[1]), (ridge[0] * iod, ridge[1], ridge[2]),
                            tw / np.linalg.norm(tw), taper, smile=smile, deepest=rest[0] if rest else 0.5))
    for name, drivers, side, pts, taper in _forehead(p, iod):
        out.append(Fold(name, drivers, side, pts, (0.007 * iod, 0.10), (0.022 * iod, 0.2, 0.0),
                        np.array([0.0, -1.0]), taper))
    # Across the nose root: the procerus line of a frown and of a wrinkled nose.
    root = p[168] + iod * np.array([0.0, -0.01])
    out.append(Fold("nose_root", {"4": 0.25, "9": 0.7}, "",
                    np.array([root + iod * np.array([-0.07, 0.01]), root, root + iod * np.array([0.07, 0.01])]),
                    (0.007 * iod, 0.08), (0.02 * iod, 0.12, 0.0), np.array([0.0, -1.0]), 0.35))
    # Mentolabial groove: AU17 pushes the chin boss up under the lower lip, and AU24's
    # pressed lips bulge the skin below them.
    a, b = p[18] + iod * np.array([0.0, 0.025]), p[83] + iod * np.array([-0.06, 0.0])
    bm = p[mirror[83]] + iod * np.array([0.06, 0.0])
    out.append(Fold("mentolabial", {"17": 1.0, "24": 0.5}, "", np.array([b, a, bm]),
                    (0.014 * iod, 0.12), (0.05 * iod, 0.2, 1.0), np.array([0.0, 1.0]), 0.35))
    # Chin dimpling (orange peel): a patch of small pits over the chin boss (AU17, and
    # a strong lip press).
    centre = (p[199] + p[200]) / 2
    out.append(Fold("chin_peel", {"17": 1.0, "24": 0.3}, "", np.array([centre, [0.17 * iod, 0.085 * iod]]),
                    (0.01 * iod, 0.07), (0.02 * iod, 0.2, 0.0), np.array([0.0, -1.0]), 0.0, kind="peel"))
    return tuple(out)


# ----------------------------------------------------------------- fold profiles

@dataclass(frozen=True, eq=False)
class Profile:
    """A fold drawn at drive 1 in its window of the frame.

    Attributes:
        box: ``(y0, y1, x0, x1)`` window in the frame.
        occlusion: ``(h, w)`` ``float32`` groove darkness, 1 at the groove's deepest.
        height: ``(h, w)`` ``float32`` ridge height in frame pixels.
    """

    box: tuple[int, int, int, int]
    occlusion: np.ndarray
    height: np.ndarray


def _polyline_coords(pts: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    """Signed perpendicular distance, distance and arc-length fraction of each pixel to a
    polyline. ``pts`` ``(K, 2)``; ``xs``/``ys`` ``(N,)``; returns three ``(N,)`` arrays
    (sign: positive on the left-hand normal ``(-ty, tx)`` of the nearest segment)."""
    pts = np.asarray(pts, np.float64)
    seg = np.diff(pts, axis=0)
    length = np.linalg.norm(seg, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(length)])
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    best = np.full(xs.shape, np.inf)
    k_best = np.zeros(xs.shape, np.int64)
    t_best = np.zeros(xs.shape)
    for k in range(len(seg)):
        dx, dy = xs - pts[k, 0], ys - pts[k, 1]
        t = np.clip((dx * seg[k, 0] + dy * seg[k, 1]) / max(length[k] ** 2, 1e-9), 0.0, 1.0)
        d2 = (dx - t * seg[k, 0]) ** 2 + (dy - t * seg[k, 1]) ** 2
        closer = d2 < best
        best = np.where(closer, d2, best)
        k_best = np.where(closer, k, k_best)
        t_best = np.where(closer, t, t_best)
    dist = np.sqrt(best)
    tang = seg[k_best] / np.maximum(length[k_best], 1e-9)[:, None]
    rx = xs - (pts[k_best, 0] + t_best * seg[k_best, 0])
    ry = ys - (pts[k_best, 1] + t_best * seg[k_best, 1])
    cross = tang[:, 0] * ry - tang[:, 1] * rx
    signed = np.where(np.abs(cross) > 1e-9, np.sign(cross), 1.0) * dist
    frac = (cum[k_best] + t_best * length[k_best]) / max(cum[-1], 1e-9)
    return signed, dist, frac


def _wander(pts: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """The polyline resampled finely and displaced sideways by smooth noise of about
    ``amount`` pixels (zero at the ends)."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    n = int(np.clip(cum[-1] / 5.0, 4, 24))
    t = np.linspace(0, cum[-1], n)
    fine = np.stack([np.interp(t, cum, pts[:, 0]), np.interp(t, cum, pts[:, 1])], axis=1)
    tang = np.gradient(fine, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-9
    normal = np.stack([-tang[:, 1], tang[:, 0]], axis=1)
    knots = rng.standard_normal(4)
    off = np.interp(np.linspace(0, 3, n), np.arange(4), knots) * amount * np.sin(np.linspace(0, np.pi, n))
    return fine + normal * off[:, None]


def _along(frac: np.ndarray, rng: np.random.Generator, deepest: float) -> np.ndarray:
    """Depth along a fold: deepest at ``deepest`` (fraction of its length), fading to
    ~half at the far end, times a gentle random modulation (+-25 %)."""
    shape = 1.0 - 0.5 * np.abs(frac - deepest) / max(deepest, 1 - deepest, 1e-9)
    knots = 1.0 + 0.25 * rng.uniform(-1, 1, 5)
    return shape * np.interp(frac, np.linspace(0, 1, 5), knots)


def _taper(frac: np.ndarray, taper: float) -> np.ndarray:
    if taper <= 0:
        return np.ones_like(frac)
    up = np.clip(frac / taper, 0, 1)
    down = np.clip((1 - frac) / taper, 0, 1)
    s = np.minimum(up, down)
    return s * s * (3 - 2 * s)


@lru_cache(maxsize=1)
def _triangle_geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical triangles used for compression: ``(T, 3)`` indices, ``(T, 2)`` centroids
    in the frame and ``(T,)`` whether each is skin (not spanning an eye or the mouth)."""
    _, tris = mesh.canonical()
    p = frame_landmarks()
    cent = p[tris].mean(axis=1)
    opening = set(mesh.LEFT_EYE) | set(mesh.RIGHT_EYE) | set(mesh.LIPS_INNER)
    skin = ~np.isin(tris, list(opening)).all(axis=1)
    return tris, cent, skin


def _profile(fold: Fold, seed: int) -> Profile:
    sg, _ = fold.groove
    sr, slope, offset = fold.ridge
    if fold.kind == "peel":
        centre, radii = fold.points
        reach = radii + 3 * sr
    else:
        centre, radii = None, None
        reach = None
    pts = fold.points
    if fold.kind == "peel":
        lo, hi = centre - reach, centre + reach
    else:
        m = 3.5 * sr + abs(offset) * sr + 2
        lo, hi = pts.min(axis=0) - m, pts.max(axis=0) + m
    x0, y0 = int(max(np.floor(lo[0]), 0)), int(max(np.floor(lo[1]), 0))
    x1, y1 = int(min(np.ceil(hi[0]) + 1, FRAME)), int(min(np.ceil(hi[1]) + 1, FRAME))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    h, w = yy.shape
    if fold.kind == "peel":
        # Band-passed noise: its troughs are the pits, its crests the bumps between.
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((h, w)).astype(np.float32)
        band = cv2.GaussianBlur(noise, (0, 0), 0.6 * sg) - cv2.GaussianBlur(noise, (0, 0), 1.4 * sg)
        band /= band.std() + 1e-9
        e = ((xx - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2
        env = np.clip(1.5 - e, 0.0, 1.0) ** 2
        pit = np.clip(-band, 0, None)
        occ = (pit / max(pit.max(), 1e-9) * 2.0).clip(0, 1) * env
        # Pits are dips: the height is the band itself (slope ~ ``slope`` at its steepest).
        height = band * env * (slope * 0.6 * sg / 2.0)
    else:
        # Real folds are neither straight nor even: the line wanders a little (a
        # fraction of its width) and its depth varies along it (deterministic per fold).
        rng = np.random.default_rng(seed)
        pts = _wander(pts, rng, 0.6 * sg)
        signed, dist, frac = _polyline_coords(pts, xx.ravel(), yy.ravel())
        along = _along(frac, rng, fold.deepest)
        tp = (_taper(frac, fold.taper) * along).reshape(h, w)
        signed, dist = signed.reshape(h, w), dist.reshape(h, w)
        occ = np.exp(-0.5 * (dist / sg) ** 2) * tp
        # The ridge's centre lies ``offset`` sigmas toward ``toward``.
        seg = pts[-1] - pts[0]
        normal = np.array([-seg[1], seg[0]]) / max(np.linalg.norm(seg), 1e-9)
        side = 1.0 if normal @ fold.toward >= 0 else -1.0
        r = signed - side * offset * sr
        # Bunched skin: a Gaussian ridge of largest slope ``slope`` (height = slope * sr *
        # e^0.5), notched by the groove itself (walls of slope ``WALL`` x ``slope``).
        height = (slope * sr * np.exp(0.5) * np.exp(-0.5 * (r / sr) ** 2)
                  - WALL * slope * sg * np.exp(0.5) * np.exp(-0.5 * (dist / sg) ** 2)) * tp
    return Profile((y0, y1, x0, x1), occ.astype(np.float32), height.astype(np.float32))


@lru_cache(maxsize=1)
def supports() -> np.ndarray:
    """``(F, T)`` ``float64`` weight of each canonical triangle in each fold's
    compression measure: skin triangles near the fold (Gaussian in the distance of their
    centroid from the fold line, or inside a peel's ellipse)."""
    _, cent, skin = _triangle_geometry()
    out = []
    for fold in folds():
        sg, _ = fold.groove
        sr, _, offset = fold.ridge
        if fold.kind == "peel":
            centre, radii = fold.points
            e = ((cent[:, 0] - centre[0]) / radii[0]) ** 2 + ((cent[:, 1] - centre[1]) / radii[1]) ** 2
            w = np.exp(-e)
        else:
            _, dc, _ = _polyline_coords(fold.points, cent[:, 0], cent[:, 1])
            reach = max(sr * (1 + abs(offset)), 3 * sg, SUPPORT_IOD * _iod())
            w = np.exp(-0.5 * (dc / reach) ** 2)
        w = w * skin
        out.append(np.where(w > 0.05, w, 0.0))
    return np.array(out)


@lru_cache(maxsize=None)
def profile(i: int) -> Profile:
    """Fold ``i`` of :func:`folds` drawn at drive 1 (cached; drawn on first need, so an
    edit pays only for the folds it drives)."""
    return _profile(folds()[i], 17 + i)


def profiles() -> tuple[Profile, ...]:
    """Every fold of :func:`folds` drawn at drive 1."""
    return tuple(profile(i) for i in range(len(folds())))


@lru_cache(maxsize=1)
def skin_mask() -> np.ndarray:
    """``(FRAME, FRAME)`` ``float32`` where creases may show: 0 in the eyes and the mouth
    opening and toward the face outline, 1 on skin."""
    from .warp import Grid, target_mesh

    p = frame_landmarks()
    tm = target_mesh(p, Grid(0, 0, (FRAME, FRAME), (FRAME, FRAME)))
    inside = (tm.ids >= 0) & (tm.ids < len(mesh.triangles()))
    w = np.clip(mesh.border_weights() * 1.5, 0, 1).astype(np.float64)
    keep = tm.attribute(w) * inside
    for contour in (mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LIPS_INNER):
        poly = np.round(p[list(contour)] * 16).astype(np.int32)
        cv2.fillPoly(keep, [poly], 0.0, shift=4)
    return cv2.GaussianBlur(keep.astype(np.float32), (0, 0), 1.5)


# ----------------------------------------------------------------- the photo's appearance

@dataclass(frozen=True)
class Appearance:
    """How a photo shows skin relief, estimated once per face.

    Attributes:
        light: ``(2,)`` log-luminance gain per unit of surface-normal tilt, in frame axes
            (x right, y down): it points toward the light (``(-0.3, 0)``: light from the
            image's left).
        contrast: the photo's skin contrast relative to :data:`REF_CONTRAST`, clipped to
            ``[0.6, 1.4]`` (noise and hair inflate it: lisa's dim photos read 0.057, a
            compressed video frame up to 0.17); fold depth scales by it.
        blur: the photo's blur beyond a sharp photo's, in frame pixels (Gaussian
            sigma); folds are blurred by it.
        skin_contrast: the measured skin contrast itself (see :data:`REF_CONTRAST`).
    """

    light: np.ndarray
    contrast: float
    blur: float
    skin_contrast: float = REF_CONTRAST


@lru_cache(maxsize=1)
def _analysis_mesh():
    """The 256 px texture frame's mesh, surface normals per pixel and skin mask, for
    measuring a photo's light: ``(TargetMesh, normals (256, 256, 3), mask (256, 256))``."""
    from .expression import model
    from .shading import TEXTURE_SIZE, texture_landmarks
    from .warp import Grid, target_mesh

    s = TEXTURE_SIZE
    p = texture_landmarks()
    tm = target_mesh(p, Grid(0, 0, (s, s), (s, s)))
    nm = model().neutral_mean[: mesh.N_SURFACE]
    scale = np.ptp(p[: mesh.N_SURFACE, 0]) / np.ptp(nm[:, 0])
    pos = np.stack([p[: mesh.N_SURFACE, 0], p[: mesh.N_SURFACE, 1], nm[:, 2] * scale], axis=1)
    _, tris = mesh.canonical()
    n = np.cross(pos[tris[:, 1]] - pos[tris[:, 0]], pos[tris[:, 2]] - pos[tris[:, 0]])
    if np.median(n[:, 2]) < 0:
        n = -n
    vert = np.zeros_like(pos)
    for k in range(3):
        np.add.at(vert, tris[:, k], n)
    vert /= np.linalg.norm(vert, axis=1, keepdims=True) + 1e-12
    full = np.zeros((mesh.N_LANDMARKS, 3))
    full[: mesh.N_SURFACE] = vert
    full[mesh.N_SURFACE:, 2] = 1.0
    normals = tm.attribute(full)
    # Skin where light is read: cheeks, forehead, nose, chin; not eyes, brows, lips, and
    # not near the outline (hair, background).
    w = np.clip(mesh.border_weights() * 1.2 - 0.2, 0, 1).astype(np.float64)
    for region in ("eyes",):
        w = w * (1 - np.clip(mesh.region_weights(region) * 1.5, 0, 1))
    feats = np.zeros(mesh.N_LANDMARKS)
    feats[list(mesh.LIPS_OUTER) + list(mesh.LEFT_BROW) + list(mesh.RIGHT_BROW)] = 1.0
    lips = mesh._falloff(mesh._core((mesh.LIPS_OUTER,)), 0.15, 0.7)
    brows = mesh._falloff(mesh._core((mesh.LEFT_BROW, mesh.RIGHT_BROW)), 0.2, 0.8)
    w[: mesh.N_SURFACE] *= (1 - lips) * (1 - brows)
    inside = (tm.ids >= 0) & (tm.ids < len(mesh.triangles()))
    mask = (tm.attribute(w) * inside > 0.5)
    return tm, normals.astype(np.float32), mask


def measure(pixels: np.ndarray, landmarks: np.ndarray) -> Appearance:
    """Measure a face's light direction, skin contrast and sharpness.

    Args:
        pixels: ``(H, W, 3)`` ``uint8``/``uint16`` RGB photo.
        landmarks: ``(478, 2+)`` the face's landmarks (pixels).

    The face is resampled into the 256 px texture frame (the crop shrunk first, so a
    12 MP photo costs what a small one does); its log luminance, low-passed, is fitted by
    ``c + light . n`` over skin, ``n`` the mean face's surface normals.
    """
    from .shading import TEXTURE_SIZE, texture_landmarks

    tm, normals, mask = _analysis_mesh()
    lm = np.asarray(landmarks, np.float64)[:, :2]
    ref = texture_landmarks()
    f_needed = np.ptp(ref[: mesh.N_SURFACE, 0]) / max(np.ptp(lm[: mesh.N_SURFACE, 0]), 1.0)
    lo = np.floor(lm.min(axis=0) - 4).clip(0).astype(int)
    hi = np.minimum(np.ceil(lm.max(axis=0) + 5), [pixels.shape[1], pixels.shape[0]]).astype(int)
    roi = pixels[lo[1]:hi[1], lo[0]:hi[0]]
    f = min(1.0, 2.0 * f_needed)  # keep twice the frame's resolution before resampling
    sw, sh = max(1, round(roi.shape[1] * f)), max(1, round(roi.shape[0] * f))
    small = shrink(roi, (sw, sh)) if f < 1.0 else roi
    fx, fy = sw / max(roi.shape[1], 1), sh / max(roi.shape[0], 1)
    src = np.stack([(lm[:, 0] - lo[0] + 0.5) * fx - 0.5, (lm[:, 1] - lo[1] + 0.5) * fy - 0.5], axis=1)
    field = tm.field(src)
    tex = to_float(cv2.remap(small, field[..., 0], field[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT))
    lum = np.log(tex @ np.array([0.299, 0.587, 0.114], np.float32) + 0.02)
    # Light: the low-frequency log luminance against the surface normals.
    low = cv2.GaussianBlur(lum, (0, 0), 4.0)
    sel = mask.copy()
    sel[::2, :] = False
    sel[:, ::2] = False
    n = normals[sel]
    a = np.concatenate([np.ones((len(n), 1), np.float32), n], axis=1).astype(np.float64)
    b = low[sel].astype(np.float64)
    # Robust (Huber-weighted) least squares: a beard, a mole or a strand of hair is not light.
    wt = np.ones(len(b))
    for _ in range(3):
        sw = np.sqrt(wt)
        coef, *_ = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)
        res = np.abs(b - a @ coef)
        scale = 1.4826 * np.median(res) + 1e-6
        wt = np.minimum(1.0, 1.5 * scale / np.maximum(res, 1e-9))
    light = np.array([coef[1], coef[2]], np.float64)
    strength = float(np.linalg.norm(light))
    if strength < MIN_LIGHT:
        # Too flat to tell: keep the measured direction if any, else light from above.
        direction = light / strength if strength > 1e-3 else np.array([0.0, -1.0])
        light = direction * MIN_LIGHT
    light = light * min(1.0, 1.2 / max(strength, 1e-9))  # a fit gone wild stays plausible
    # Skin contrast: the band-passed log luminance (fine relief, pores) over skin.
    band = cv2.GaussianBlur(lum, (0, 0), 0.8) - cv2.GaussianBlur(lum, (0, 0), 3.0)
    contrast = float(np.std(band[mask]))
    # Sharpness: how much a further blur of known width weakens the gradients. For an
    # edge blurred by sigma, gradients fall by sigma / sqrt(sigma^2 + s0^2).
    s0 = 1.5
    gx, gy = np.gradient(lum)
    lum_b = cv2.GaussianBlur(lum, (0, 0), s0)
    bx, by = np.gradient(lum_b)
    whole = tm.ids >= 0
    g1 = np.sqrt(gx**2 + gy**2)[whole].mean()
    g2 = np.sqrt(bx**2 + by**2)[whole].mean()
    r = max(g1 / max(g2, 1e-9), 1.0 + 1e-6)
    blur_tex = s0 / np.sqrt(max(r * r - 1.0, 1e-6))
    measured = blur_tex * FRAME / TEXTURE_SIZE
    blur = float(np.clip(np.sqrt(max(measured**2 - SHARP_BLUR**2, 0.0)), 0.0, 8.0))
    return Appearance(light, float(np.clip(contrast / REF_CONTRAST, 0.6, 1.4)), blur, contrast)


def fold_map(app: Appearance, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``i``'s log-ratio map at drive 1 under ``app``, split into darkening and
    brightening: ``(dark, bright)``, ``(h, w)`` ``float32`` each, in the fold's window
    (:attr:`Profile.box`)."""
    fold, prof = folds()[i], profile(i)
    occ, height = prof.occlusion, prof.height
    if app.blur > 0.3:
        occ = cv2.GaussianBlur(occ, (0, 0), app.blur)
        height = cv2.GaussianBlur(height, (0, 0), app.blur)
    gy, gx = np.gradient(height)
    m = (-fold.groove[1] * occ - (app.light[0] * gx + app.light[1] * gy)) * (app.contrast * DEPTH)
    y0, y1, x0, x1 = prof.box
    m = m * skin_mask()[y0:y1, x0:x1]
    return np.minimum(m, 0).astype(np.float32), np.maximum(m, 0).astype(np.float32)


def fold_maps(app: Appearance) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`fold_map` for every fold."""
    return [fold_map(app, i) for i in range(len(folds()))]


class FaceFolds:
    """One face's folds in its photo's appearance, each drawn on first need.

    ``FaceFolds(app)[i]`` is :func:`fold_map` ``(app, i)``, kept.
    """

    def __init__(self, app: Appearance) -> None:
        self.appearance = app
        self._maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            hit = self._maps.get(i)
        if hit is None:
            hit = fold_map(self.appearance, i)
            with self._lock:
                self._maps[i] = hit
        return hit


def face_folds(state: "FaceState") -> FaceFolds:
    """The :class:`FaceFolds` of one face of a session: its photo's appearance, measured
    once per face (:attr:`mien.session.FaceState.folds`; a video track measures it once
    per shot and passes it on)."""
    return state.folds


# ----------------------------------------------------------------- per request

def _au(values: dict, name: str, side: str) -> float:
    """An AU's intensity on one side (``""``: the mean of both sides), from a code."""
    both = values.get(name, 0.0)
    if side in ("L", "R"):
        return both + values.get(name + side, 0.0)
    return both + 0.5 * (values.get(name + "L", 0.0) + values.get(name + "R", 0.0))


def drives(values: dict, smile: float = 0.0) -> np.ndarray:
    """``(F,)`` each fold's drive from code values ``{direction: intensity}`` (only
    raising intensities count). The measured smile counts as :data:`SMILE_AS_AU` for
    folds its shading does not show; for those it does show (``Fold.smile``) the
    smile's share is taken off, so the two never double."""
    pos = {k: max(float(v), 0.0) for k, v in values.items()}
    s = max(float(smile), 0.0)
    out = np.zeros(len(folds()))
    for i, fold in enumerate(folds()):
        d = sum(w * _au(pos, au, fold.side) for au, w in fold.drivers.items())
        covered = sum(w * SMILE_AS_AU.get(au, 0.0) * s for au, w in fold.drivers.items())
        out[i] = max(d - covered, 0.0) if fold.smile else d + covered
    return np.minimum(out, 2.0)


def _areas(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = points[tris[:, 0]], points[tris[:, 1]], points[tris[:, 2]]
    return 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def compression(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(F,)`` how much the warp from ``source`` to ``target`` landmarks (``(478, 2+)``,
    pixels) compresses the skin under each fold: ``1 - (target area / source area)``
    over the fold's supporting triangles (positive: compressed; negative: stretched)."""
    tris, _, _ = _triangle_geometry()
    a_s = _areas(np.asarray(source, np.float64)[:, :2], tris)
    a_t = _areas(np.asarray(target, np.float64)[:, :2], tris)
    sup = supports()
    return 1.0 - (sup @ a_t) / np.maximum(sup @ a_s, 1e-9)


@lru_cache(maxsize=1)
def reference_compression() -> tuple[dict[str, float], ...]:
    """Per fold, ``{AU: compression}`` each driving AU alone at 1 makes on the mean face
    (that side's variant for sided folds)."""
    from .expression import Expression, model

    m = model()
    base = m.neutral_mean * [1.0, -1.0, 1.0]
    cache: dict[str, np.ndarray] = {}
    out = []
    for i, fold in enumerate(folds()):
        refs = {}
        for au in fold.drivers:
            name = au + fold.side if fold.side and (au + fold.side) in m.directions else au
            if name not in cache:
                moved = (m.neutral_mean + m.displacement(Expression({name: 1.0}))) * [1.0, -1.0, 1.0]
                cache[name] = compression(base, moved)
            refs[au] = float(cache[name][i])
        out.append(refs)
    return tuple(out)


@lru_cache(maxsize=1)
def _sensitivity() -> np.ndarray:
    """``(F,)`` :data:`SENSITIVITY` for folds whose own AUs compress their skin in the
    mesh prior (by at least :data:`KAPPA` / 2 at 1); 0 for the others (lower lid, lip
    corners, chin: the prior moves that skin without bunching it, so its area says
    nothing about the fold)."""
    return np.array([SENSITIVITY if max(refs.values()) >= KAPPA / 2 else 0.0 for refs in reference_compression()])


def weights(values: dict, source: np.ndarray, target: np.ndarray, smile: float = 0.0) -> np.ndarray:
    """``(F,)`` each fold's depth: drive (:func:`drives`) times the compression gain
    ``1 + SENSITIVITY * (c - r) / (|r| + KAPPA)`` clipped to ``[0,
    MAX_COMPRESSION_GAIN]`` and saturating softly at :data:`MAX_DEPTH`, where ``c``
    is the fold's compression in this warp and ``r`` what its AUs at these intensities
    make on the mean face (:func:`reference_compression`, added up): the gain is 1 when
    the AUs act as on the mean face, grows where the warp bunches the skin up more
    (other AUs pushing the same way, the face's own shape) and falls to 0 where it
    stretches the skin instead."""
    d = drives(values, smile)
    if not d.any():
        return d
    pos = {k: max(float(v), 0.0) for k, v in values.items()}
    s = max(float(smile), 0.0)
    c = compression(source, target)
    ref = np.array([sum(fold.drivers[au] * (_au(pos, au, fold.side) + SMILE_AS_AU.get(au, 0.0) * s) * cr
                        for au, cr in refs.items())
                    for fold, refs in zip(folds(), reference_compression())])
    gain = np.clip(1.0 + _sensitivity() * (c - ref) / (np.abs(ref) + KAPPA), 0.0, MAX_COMPRESSION_GAIN)
    w = d * gain
    return MAX_DEPTH * np.tanh(w / MAX_DEPTH)


def crease_map(values: dict, source: np.ndarray, target: np.ndarray, maps, smile: float = 0.0) -> np.ndarray | None:
    """The creases of a code change, given the folds drawn for one photo.

    Args:
        values: the code change, ``{direction: intensity}``.
        source, target: ``(478, 2+)`` landmarks before and after the warp (pixels).
        maps: the photo's folds, indexable by fold number (:func:`fold_maps`' list, or
            a :class:`FaceFolds`).
        smile: the change's ``"smile"`` amount (see :func:`drives`).

    Returns:
        ``(2, FRAME, FRAME)`` ``float32``: darkening (``<= 0``) and brightening
        (``>= 0``) log ratios, or ``None`` when no fold is driven.
    """
    w = weights(values, source, target, smile)
    active = np.flatnonzero(w > 1e-4)
    if active.size == 0:
        return None
    out = np.zeros((2, FRAME, FRAME), np.float32)
    for i in active:
        y0, y1, x0, x1 = profile(int(i)).box
        dark, bright = maps[int(i)]
        out[0, y0:y1, x0:x1] += np.float32(w[i]) * dark
        out[1, y0:y1, x0:x1] += np.float32(w[i]) * bright
    return out


def crease_log_ratio(state: "FaceState", change: "Expression", target: np.ndarray) -> np.ndarray | None:
    """:func:`crease_map` for one face of a session (:func:`face_folds`).

    Returns:
        ``(2, FRAME, FRAME)`` ``float32`` darkening and brightening, or ``None``.
    """
    values = change.values
    smile = float(values.get("smile", 0.0))
    if not drives(values, smile).any():
        return None
    return crease_map(values, state.face.landmarks, target, face_folds(state), smile)


def to_rgb(pair: np.ndarray) -> np.ndarray:
    """``(2, S, S)`` darkening and brightening -> ``(S, S, 3)`` ``float32`` RGB log ratio
    (darkening weighted per channel by :data:`DARK_RGB`)."""
    return cv2.merge([cv2.scaleAdd(pair[0], float(k), pair[1]) for k in DARK_RGB])

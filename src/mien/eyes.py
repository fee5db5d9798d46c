"""Eyes of a real expression: what a raised upper lid reveals.

Raising the upper lid (AU 5 in surprise and fear, the eyes-wide side of the blink
slider) is, in the warp alone, a vertical stretch of the eye opening: the iris smears
into a tall oval and no white shows above it. Here the opening keeps its pixels and the
lid moves instead. For each eye whose upper lid rises relative to its iris (read in the
face's own head pose, so head turns do not count), a small source image is synthesised
from the photo itself:

* the lid, lashes and lid skin are moved up by the raise from the lid's dark edge
  (measured per column beside the iris), the lid skin compressed smoothly over
  :data:`LID_SKIN` eye widths above it, so the lash line sits at the new lid;
* over and beside the iris the band the lid uncovers is painted: sclera in the face's
  eye-white chroma (:mod:`mien.sclera`) at each column's own lit level, darkened by the
  lid's shadow profile measured on the eye, with a fixed grain at the white's own
  spread; the iris disc is completed as a circle (centre from landmark 468/473, radius
  as seen in the photo), its hidden top mirrored from its visible lower half (its
  radial profile where that is hidden too); the part of the opening that lay in the old
  lid's shadow is relit to its new depth;
* toward the corners the white is not painted but stretched from the lower lid to the
  new lid edge, keeping its own shading (shadowed corners, lash shadow, texture).

The source's landmarks are the face's with the upper lid (and the skin above it) raised
by the same field, so the renderer's mesh maps the target's opening onto the source by
(nearly) a translation: iris to iris, without stretching. The layer is one
:class:`~mien.scene.Layer` covering both eye openings; it fades in with the raise
(from :data:`MIN_RAISE` to :data:`RAISE_FOR_TEXTURE`), so sweeps stay continuous; it is
absent when no upper lid rises, and an eye that shows too little iris or white (closed,
hidden) is left to the warp.

Coordinates: the source image is a crop of the photo at full resolution (same axes,
integer offset). Each eye is handled in an eye frame: ``s`` along the line from the
subject's right outer eye corner to the left one, ``t`` toward the forehead, both in
photo pixels. Colour work is in linear light. The per-face analysis is cached per
:class:`~mien.session.FaceState` (:func:`layers`); each request only moves and paints.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import cv2
import numpy as np

from . import mesh
from .expression import align_to
from .face import Face
from .image import from_float, to_float
from .scene import Layer
from .sclera import Sclera, encode, linear, measure

#: Upper-lid landmarks of each eye, corner to corner (contour order).
UPPER = {"R": (33, 246, 161, 160, 159, 158, 157, 173, 133), "L": (263, 466, 388, 387, 386, 385, 384, 398, 362)}
#: Lower-lid landmarks of each eye, corner to corner.
LOWER = {"R": (33, 7, 163, 144, 145, 153, 154, 155, 133), "L": (263, 249, 390, 373, 374, 380, 381, 382, 362)}
IRIS = {"R": mesh.RIGHT_IRIS, "L": mesh.LEFT_IRIS}
CONTOUR = {"R": mesh.RIGHT_EYE, "L": mesh.LEFT_EYE}

#: Raise of the upper lid (inter-ocular units, relative to the iris) at which the layer
#: is fully in; from :data:`MIN_RAISE` up to it the layer's weight grows linearly from 0.
RAISE_FOR_TEXTURE = 0.008
#: Raises below this (inter-ocular units; ~0.5 px on a 1350 px portrait) make no layer:
#: the warp's stretch is invisible there, and previews skip the layer's cost.
MIN_RAISE = 0.002
#: Height above the lid margin over which the lid skin absorbs the raise, in eye widths.
LID_SKIN = 0.45
#: Depth of the shadow the upper lid casts on the sclera right below it (fraction of the
#: lit level), the prior that each eye's own measurement is averaged with.
SHADOW_PRIOR = 0.35
#: How far the lashes and the lid's shadow edge reach below the lid landmarks, in eye widths.
LASH_MARGIN = 0.025


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass(frozen=True, eq=False)
class _Eye:
    """One eye's analysis, independent of the request (cached per face).

    Attributes:
        side: ``"R"`` or ``"L"`` (the subject's).
        box: ``(x0, y0, x1, y1)`` the eye's working box in crop pixels.
        s, t: ``(h, w)`` ``float32`` eye-frame coordinates of the box's pixel centres.
        upper_s, upper_t: upper-lid landmarks' eye-frame coordinates, sorted by ``s``.
        lower_s, lower_t: the same for the lower lid.
        centre: ``(2,)`` iris centre ``(s, t)``; radius: iris radius (pixels).
        width: eye width (corner to corner, pixels).
        lid_t, low_t: ``(h, w)`` upper and lower lid ``t`` at each pixel's ``s``.
        colour: ``(n_s, 3)`` ``float32`` lit (unshadowed) sclera colour, linear light, per
            column bin along the eye (bins at ``s_bins``): the face's eye-white chroma at
            the column's own level.
        s_bins: ``(n_s,)`` bin centres along ``s``.
        shadow: ``(depths, profile)``: the sclera's brightness (relative to its lit level)
            at depths below the lid edge (pixels), measured and averaged with a prior.
        radial: ``(n_r, 3)`` mean iris colour (linear) per radius bin (``n_r`` bins over ``[0, radius]``).
        linear: ``(h, w, 3)`` the box in linear light.
        confidence: how many sclera pixels the colour rests on, ``[0, 1]``.
        grain: ``(h, w)`` fixed relative grain painted into the band (the sclera's spread).
        margins: ``(n_s,)`` the lid's dark edge below the landmarks per column bin (pixels);
            margin: the same at each pixel of the box, ``(h, w)``.
        iris_seen: the share of the iris disc visible in the opening.
    """

    side: str
    box: tuple[int, int, int, int]
    s: np.ndarray
    t: np.ndarray
    upper_s: np.ndarray
    upper_t: np.ndarray
    lower_s: np.ndarray
    lower_t: np.ndarray
    centre: np.ndarray
    radius: float
    width: float
    lid_t: np.ndarray
    low_t: np.ndarray
    colour: np.ndarray
    s_bins: np.ndarray
    shadow: tuple[np.ndarray, np.ndarray]
    radial: np.ndarray
    linear: np.ndarray
    confidence: float
    grain: np.ndarray
    margins: np.ndarray
    margin: np.ndarray
    iris_seen: float


@dataclass(frozen=True, eq=False)
class _Analysis:
    """Per-face, request-independent work: the crop and both eyes."""

    crop: np.ndarray            # (h, w, 3) photo dtype, the crop around both eyes
    sclera: Sclera              # the face's eye whites (mien.sclera.measure)
    offset: np.ndarray          # (2,) crop origin in the photo (x, y)
    origin: np.ndarray          # (2,) eye-frame origin (photo pixels)
    u: np.ndarray               # (2,) unit vector along s (image axes)
    up: np.ndarray              # (2,) unit vector along t (toward the forehead)
    eyes: tuple[_Eye, ...]


def _frame(face: Face) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = face.points.astype(np.float64)
    u = p[263] - p[33]
    u /= max(np.linalg.norm(u), 1e-9)
    up = np.array([u[1], -u[0]])
    # ``up`` must point from the eyes toward the brows.
    if np.dot(p[[105, 334]].mean(axis=0) - p[[33, 263]].mean(axis=0), up) < 0:
        up = -up
    return p[33].copy(), u, up


def _st(points: np.ndarray, origin: np.ndarray, u: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(points, np.float64) - origin
    return d @ u, d @ up


def _tilt(s_pts: np.ndarray, t_pts: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``cos`` of the angle between a lid curve (points ``(s_pts, t_pts)``, sorted by
    ``s``) and the eye axis at ``s``: a depth measured along ``t`` below a steep part of
    the lid (near the corners) times this is the distance from the lid."""
    ds, dt = np.diff(s_pts), np.diff(t_pts)
    seg = dt / np.maximum(ds, 1e-6)
    at = np.concatenate([[seg[0]], (seg[1:] + seg[:-1]) / 2, [seg[-1]]])
    slope = np.interp(s, s_pts, at)
    return (1.0 / np.sqrt(1.0 + slope**2)).astype(np.float32)


def _curve(s_pts: np.ndarray, t_pts: np.ndarray, s: np.ndarray) -> np.ndarray:
    order = np.argsort(s_pts)
    return np.interp(s, s_pts[order], t_pts[order]).astype(np.float32)


def _lash_margins(s, t, lid_t, low_t, lum, rho, radius, width, s_bins, inside_s, centre_s) -> np.ndarray:
    """``(n_s,)`` how far below the upper-lid landmarks the lid's dark edge (lashes, lid
    margin, its shadow) reaches into the opening, per column bin, pixels along ``t``.

    In columns beside the iris: the depth where the luminance first climbs half-way from
    the darkest value near the lid to the column's bright sclera. Over the iris (dark
    itself: lashes cannot be told from it) :data:`LASH_MARGIN`, so no slice of the iris
    moves with the lid. At least :data:`LASH_MARGIN`, at most 0.07 eye widths.
    """
    lo, hi = LASH_MARGIN * width, 0.07 * width
    out = np.full(len(s_bins), np.nan, np.float32)
    step = max(0.5, width / 80)
    depth = lid_t - t
    zone = inside_s & (depth >= 0) & (t > low_t) & (rho > 1.15 * radius) & (depth < 0.3 * width)
    idx = np.clip(np.searchsorted(s_bins, s[zone]), 0, len(s_bins) - 1)
    dz, lz = depth[zone], lum[zone]
    for b in range(len(s_bins)):
        sel = idx == b
        if sel.sum() < 6:
            continue
        k = (dz[sel] / step).astype(int)
        if k.min() > 0 or k.max() < 2 * hi / step:
            continue                          # the column must run from the lid down into the white
        prof = np.array([np.median(lz[sel][k == j]) if (k == j).any() else np.nan for j in range(k.max() + 1)])
        ok = np.isfinite(prof)
        if ok.sum() < 4:
            continue
        prof = np.interp(np.arange(len(prof)), np.flatnonzero(ok), prof[ok])
        top = prof[: max(2, int(hi / step))]
        dark, bright = top.min(), np.percentile(prof, 90)
        if bright < 1.3 * dark:
            continue
        first = int(np.argmin(top))
        above = np.flatnonzero(prof[first:] > dark + 0.5 * (bright - dark))
        if above.size:
            out[b] = (first + above[0]) * step
    out[np.abs(s_bins - centre_s) < 1.2 * radius] = lo
    have = np.isfinite(out)
    if have.sum() >= 1:
        out = np.interp(s_bins, s_bins[have], out[have]).astype(np.float32)
    else:
        out[:] = lo
    return np.clip(out, lo, hi).astype(np.float32)


def _iris_radius(s, t, lum, opening, centre, radius, sclera) -> float:
    """The iris radius seen in the photo: where the luminance along the eye axis through
    the iris centre climbs half-way from the iris to the white, on both sides; the
    landmarks' radius when the edges are not clear (or not within 0.7-1.5 of it)."""
    row = opening & (np.abs(t - centre[1]) < max(1.0, 0.15 * radius))
    if row.sum() < 8 or sclera.sum() < 4:
        return radius
    iris_l = float(np.median(lum[row & (np.abs(s - centre[0]) < 0.5 * radius)])) if (
        row & (np.abs(s - centre[0]) < 0.5 * radius)).any() else None
    if iris_l is None:
        return radius
    white = float(np.median(lum[sclera]))
    if white < 1.3 * iris_l:
        return radius
    half = iris_l + 0.5 * (white - iris_l)
    edges = []
    for sign in (-1, 1):
        d = sign * (s[row] - centre[0])
        ok = d > 0.5 * radius
        if not ok.any():
            return radius
        order = np.argsort(d[ok])
        dd, ll = d[ok][order], lum[row][ok][order]
        # Median over small steps, then the first step past half-way.
        step = max(0.5, 0.05 * radius)
        k = (dd / step).astype(int)
        uniq = np.unique(k)
        prof = np.array([np.median(ll[k == j]) for j in uniq])
        past = np.flatnonzero(prof > half)
        if not past.size:
            return radius
        edges.append(uniq[past[0]] * step)
    seen = float(np.mean(edges))
    return seen if 0.7 * radius < seen < 1.5 * radius else radius


def _analyse_eye(side: str, face: Face, lin_crop: np.ndarray, offset: np.ndarray, origin: np.ndarray,
                 u: np.ndarray, up: np.ndarray) -> _Eye:
    p = face.points.astype(np.float64)
    up_s, up_t = _st(p[list(UPPER[side])], origin, u, up)
    lo_s, lo_t = _st(p[list(LOWER[side])], origin, u, up)
    iris = IRIS[side]
    c_s, c_t = _st(p[[iris[0]]], origin, u, up)
    centre = np.array([c_s[0], c_t[0]])
    radius = float(np.linalg.norm(p[list(iris[1:])] - p[iris[0]], axis=1).mean())
    width = float(up_s.max() - up_s.min())
    # The eye's box (crop pixels): the opening, the lid skin above it and a margin.
    pts = np.concatenate([p[list(UPPER[side])], p[list(LOWER[side])]])
    above = pts + (LID_SKIN * width + 0.25 * width) * up
    allp = np.concatenate([pts, above]) - offset
    h, w = lin_crop.shape[:2]
    x0 = int(np.clip(np.floor(allp[:, 0].min() - 0.1 * width), 0, w - 1))
    x1 = int(np.clip(np.ceil(allp[:, 0].max() + 0.1 * width) + 1, x0 + 1, w))
    y0 = int(np.clip(np.floor(allp[:, 1].min() - 0.1 * width), 0, h - 1))
    y1 = int(np.clip(np.ceil(allp[:, 1].max() + 0.1 * width) + 1, y0 + 1, h))
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    s, t = _st(np.stack([xs + offset[0], ys + offset[1]], -1), origin, u, up)
    s, t = s.astype(np.float32), t.astype(np.float32)
    lid_t, low_t = _curve(up_s, up_t, s), _curve(lo_s, lo_t, s)
    inside_s = (s > up_s.min()) & (s < up_s.max())
    linear = lin_crop[y0:y1, x0:x1]
    margin = LASH_MARGIN * width
    opening = inside_s & (t < lid_t - margin) & (t > low_t + margin)
    rho = np.hypot(s - centre[0], t - centre[1])
    lum = _luma(linear)
    # Visible sclera: in the opening, off the iris, bright and little saturated.
    cand = opening & (rho > 1.15 * radius)
    # The lid's shadow as a function of depth below the lid edge: a prior until measured.
    depths = np.linspace(0.0, 0.35 * width, 15).astype(np.float32)
    profile = (1.0 - SHADOW_PRIOR * np.exp(-depths / max(0.08 * width, 1.0))).astype(np.float32)
    bins = 24
    s_bins = np.linspace(up_s.min(), up_s.max(), bins)
    margins = _lash_margins(s, t, lid_t, low_t, lum, rho, radius, width, s_bins, inside_s, centre[0])
    margin = np.interp(s, s_bins, margins).astype(np.float32)
    cand = cand & (t < lid_t - margin)
    colour = np.zeros((bins, 3), np.float32)
    confidence = 0.0
    spread = 0.02
    if cand.sum() >= 6:
        rgb = linear[cand]
        sat = (rgb.max(1) - rgb.min(1)) / (rgb.max(1) + 1e-4)
        ref = np.percentile(lum[cand], 90)
        keep = (lum[cand] > 0.3 * ref) & (sat < np.percentile(sat, 75) + 0.05)
        order = np.argsort(up_s)
        tilt = _tilt(up_s[order], up_t[order], s)
        rgb, ss, depth = rgb[keep], s[cand][keep], ((lid_t - margin - t) * tilt)[cand][keep]
        confidence = float(np.clip(keep.sum() / (0.02 * width * width + 1), 0, 1))
        # The sclera's fine texture (veins, skin of the eye, sensor noise): its relative
        # spread about a local mean, robustly.
        sigma = max(0.7, 0.02 * width)
        local = cv2.GaussianBlur(linear, (0, 0), sigma)
        rel = (_luma(linear) / np.maximum(_luma(local), 1e-4) - 1.0)[cand][keep]
        spread = float(np.clip(1.4826 * np.median(np.abs(rel - np.median(rel))), 0.0, 0.15))
        lk = _luma(rgb)
        idx = np.clip(np.searchsorted(s_bins, ss), 0, bins - 1)
        # Each column's lit level: a bright share of its pixels away from the lid.
        level = np.full(bins, np.nan, np.float32)
        med = np.zeros((bins, 3), np.float32)
        for b in range(bins):
            sel = idx == b
            if sel.sum() >= 2:
                deep = sel & (depth > 0.1 * width)
                level[b] = np.percentile(lk[deep if deep.sum() >= 2 else sel], 80)
                med[b] = np.median(rgb[sel], axis=0)
        have = np.isfinite(level)
        if have.sum() >= 2:
            level = np.interp(s_bins, s_bins[have], level[have]).astype(np.float32)
            # The depth profile, pooled over columns: luminance relative to the column's level.
            rel = lk / np.maximum(level[idx], 1e-6)
            didx = np.clip(np.round(depth / max(depths[1], 1e-6)).astype(int), 0, len(depths) - 1)
            prof = np.full(len(depths), np.nan, np.float32)
            for b in range(len(depths)):
                sel = didx == b
                if sel.sum() >= 3:
                    prof[b] = np.median(rel[sel])
            ok = np.isfinite(prof)
            if ok.sum() >= 3:
                measured = np.interp(depths, depths[ok], prof[ok])
                measured = np.maximum.accumulate(np.clip(measured, 0.2, None))
                measured /= max(float(measured[-1]), 1e-6)
                # Half the measurement, half the prior: a few lashes must not make a cave.
                profile = (0.5 * measured + 0.5 * profile).astype(np.float32)
            chroma = np.median(rgb, axis=0)
            colour = (chroma[None, :] * (level / max(float(_luma(chroma)), 1e-6))[:, None]).astype(np.float32)
            colour = cv2.GaussianBlur(colour[None], (0, 0), sigmaX=1.0, sigmaY=0.01)[0]
        else:
            colour[:] = np.median(rgb, axis=0)
    shadow = (depths, profile)
    # Iris: mean colour per radius from visible iris pixels, highlights excluded.
    n_r = 12
    radial = np.zeros((n_r, 3), np.float32)
    radius = _iris_radius(s, t, lum, opening, centre, radius, cand)
    rho = np.hypot(s - centre[0], t - centre[1])
    in_iris = opening & (rho < radius)
    # How much of the iris the photo shows: a nearly closed eye has nothing to complete
    # its iris or white from (the layer leaves it to the warp).
    seen = float(in_iris.sum()) / max(np.pi * radius**2, 1.0)
    if in_iris.sum() >= 6:
        rgb, r = linear[in_iris], rho[in_iris]
        lk = _luma(rgb)
        ok = lk < 2.0 * np.median(lk) + 1e-3
        ridx = np.clip((r / radius * n_r).astype(int), 0, n_r - 1)
        have = np.zeros(n_r, bool)
        for b in range(n_r):
            sel = ok & (ridx == b)
            if sel.sum():
                radial[b] = np.median(rgb[sel], axis=0)
                have[b] = True
        for ch in range(3):
            radial[:, ch] = np.interp(np.arange(n_r), np.flatnonzero(have), radial[have, ch])
    # A fixed grain field for the painted band (the same for every request: sweeps stay
    # continuous), at the sclera's own spread and about its sharpness.
    rng = np.random.default_rng(1 + (side == "L"))
    grain = cv2.GaussianBlur(rng.standard_normal(s.shape).astype(np.float32), (0, 0), max(0.5, 0.006 * width))
    grain *= np.float32(spread / max(float(grain.std()), 1e-6))
    return _Eye(side, (x0, y0, x1, y1), s, t, up_s[np.argsort(up_s)], up_t[np.argsort(up_s)],
                lo_s[np.argsort(lo_s)], lo_t[np.argsort(lo_s)], centre, radius, width, lid_t, low_t,
                colour, s_bins.astype(np.float32), shadow, radial, linear, confidence, grain, margins, margin,
                seen)


def _fallback_colour(eyes: tuple[_Eye, ...], white: Sclera) -> None:
    """Give each eye's column colours the chroma of the face's measured eye whites
    (:mod:`mien.sclera`, both eyes pooled: steadier than one column's pixels), keeping the
    column's own lit level; an eye without measurable sclera takes the other eye's levels,
    or the measured white itself."""
    ref = np.asarray(white.colour, np.float32)
    ref_l = max(float(_luma(ref)), 1e-6)
    good = [e for e in eyes if e.confidence > 0.2]
    level = float(np.median(np.concatenate([_luma(e.colour) for e in good]))) if good else ref_l
    for e in eyes:
        own = _luma(e.colour) if e.confidence > 0 else np.zeros(len(e.colour), np.float32)
        mix = min(1.0, e.confidence / 0.2)
        lum = mix * own + (1 - mix) * level
        e.colour[:] = ref[None, :] * (lum / ref_l)[:, None]


def analyse(pixels: np.ndarray, face: Face, sclera: Sclera | None = None) -> _Analysis:
    """The request-independent part of the eye layer for ``face`` in ``pixels``.

    Args:
        pixels: ``(H, W, 3)`` ``uint8``/``uint16`` RGB photo.
        face: a face found in it.
        sclera: the face's eye whites if already measured (:func:`mien.sclera.measure`).
    """
    origin, u, up = _frame(face)
    p = face.points.astype(np.float64)
    eye_pts = p[list(mesh.RIGHT_EYE) + list(mesh.LEFT_EYE)]
    width = float(np.linalg.norm(p[33] - p[133]) + np.linalg.norm(p[263] - p[362])) / 2
    reach = np.concatenate([eye_pts, eye_pts + (LID_SKIN + 0.5) * width * up,
                            eye_pts - 0.4 * width * up])
    h, w = pixels.shape[:2]
    x0 = int(np.clip(np.floor(reach[:, 0].min() - 0.3 * width), 0, w - 1))
    x1 = int(np.clip(np.ceil(reach[:, 0].max() + 0.3 * width), x0 + 1, w))
    y0 = int(np.clip(np.floor(reach[:, 1].min() - 0.3 * width), 0, h - 1))
    y1 = int(np.clip(np.ceil(reach[:, 1].max() + 0.3 * width), y0 + 1, h))
    crop = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    offset = np.array([x0, y0], np.float64)
    lin = linear(to_float(crop))
    white = sclera if sclera is not None else measure(pixels, face)
    eyes = tuple(_analyse_eye(side, face, lin, offset, origin, u, up) for side in ("R", "L"))
    _fallback_colour(eyes, white)
    return _Analysis(crop, white, offset, origin, u, up, eyes)


def pose_free(face: Face, target: np.ndarray) -> np.ndarray:
    """``(478, 3)`` ``target`` brought back into ``face``'s head pose (similarity on the
    stable points, :func:`mien.expression.align_to`): what is left is expression, so a
    head turn or tilt is not read as lids moving against the iris."""
    return align_to(np.asarray(target, np.float64), face.landmarks)


def _trust(eye: _Eye, white: Sclera) -> float:
    """``[0, 1]``: how far the photo shows enough of this eye to paint what a raised lid
    reveals. A nearly closed or hidden eye (little iris in the opening, no measurable
    white) gets 0 and is left to the warp."""
    iris = np.clip((eye.iris_seen - 0.3) / 0.25, 0.0, 1.0)
    white_ok = np.clip(min(eye.confidence, white.confidence) / 0.5, 0.0, 1.0)
    return float(iris * white_ok)


def lid_raise(face: Face, target: np.ndarray, side: str, up: np.ndarray | None = None) -> np.ndarray:
    """``(9,)`` how far each upper-lid landmark of one eye (:data:`UPPER`, corners
    included) rises in ``target`` relative to the eye's iris centre, pixels along the
    face's up direction (negative: lowered).

    ``target`` should be in the face's own head pose (:func:`pose_free`); with a head
    rotation in it, the rotation reads as lid motion."""
    if up is None:
        up = _frame(face)[2]
    tgt = np.asarray(target, np.float64)[:, :2]
    own = face.points.astype(np.float64)
    c = IRIS[side][0]
    rel = (tgt[list(UPPER[side])] - own[list(UPPER[side])]) - (tgt[c] - own[c])
    return rel @ up


def _shift_field(eye: _Eye, r_s: np.ndarray, r_v: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Forward shift (pixels along ``up``) of original points ``(s, t)`` of one eye.

    Points at or above the lash margin move up by the raise ``r(s)``, fading linearly to
    0 over ``LID_SKIN`` eye widths above the lid; points below it stay.
    """
    r = np.interp(s, r_s, r_v, left=0.0, right=0.0)
    lid = np.interp(s, eye.upper_s, eye.upper_t)
    margin = np.interp(s, eye.s_bins, eye.margins)
    height = _skin_height(eye, r_v)
    d = t - lid
    f = np.where(d < -margin, 0.0, np.clip(1.0 - d / height, 0.0, 1.0))
    return r * f


def _skin_height(eye: _Eye, r_v: np.ndarray) -> float:
    return max(LID_SKIN * eye.width, 3.0 * float(np.max(r_v, initial=0.0)), 1.0)


def _paint(eye: _Eye, r_s: np.ndarray, r_v: np.ndarray, an: _Analysis) -> np.ndarray:
    """The eye's box of the source image in linear light, ``(h, w, 3)`` ``float32``."""
    s, t, lid, low = eye.s, eye.t, eye.lid_t, eye.low_t
    r = np.interp(s, r_s, r_v, left=0.0, right=0.0).astype(np.float32)
    margin = eye.margin
    height = np.float32(_skin_height(eye, r_v))
    edge = lid - margin                      # the visible lid edge before the raise
    # Backward map of the moved zone: source t -> original t.
    t_orig = t.copy()
    zone1 = (t >= edge + r) & (t <= lid + r)
    t_orig[zone1] = (t - r)[zone1]
    zone2 = (t > lid + r) & (t < lid + height)
    with np.errstate(divide="ignore", invalid="ignore"):
        solved = (t - r - r * lid / height) / (1.0 - r / height)
    t_orig[zone2] = solved[zone2]
    moved = zone1 | zone2
    dt = (t - t_orig).astype(np.float32)
    x0, y0, x1, y1 = eye.box
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    mx = xs - dt * np.float32(an.up[0])
    my = ys - dt * np.float32(an.up[1])
    lin_crop_box = eye.linear
    # Sample the (linear) crop box; moved pixels come from inside the box by construction.
    out = cv2.remap(lin_crop_box, mx - x0, my - y0, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out[~moved] = lin_crop_box[~moved]
    # The band the lid uncovers, and depths below the new lid edge.
    inside_s = (s > eye.upper_s[0]) & (s < eye.upper_s[-1])
    # The band runs from the lid's new edge down into the old opening by ``margin`` more,
    # where the old lashes' shadow is painted over, fading into the photo (the fade
    # vanishes with the raise, so sweeps stay continuous).
    over = np.minimum(1.5 * margin, r)
    ramp = np.float32(max(1.0, 0.5 * LASH_MARGIN * eye.width))
    band = inside_s & (t >= edge - over) & (t < edge + r + ramp) & (r > 0)
    below = inside_s & (t < edge) & (t > low - margin)
    depths, profile = eye.shadow
    # Depths below the raised lid, measured across it (steep near the corners).
    tilt_new = _tilt(eye.upper_s, eye.upper_t + np.interp(eye.upper_s, r_s, r_v), s)
    g = lambda d: np.interp(d, depths, profile)  # noqa: E731
    if below.any():
        tilt_old = _tilt(eye.upper_s, eye.upper_t, s[below])
        d_old = (edge - t)[below]
        gain = g((d_old + r[below]) * tilt_new[below]) / g(d_old * tilt_old)
        out[below] = out[below] * gain[:, None]
    if band.any():
        bs, bt = s[band], t[band]
        d_new = (edge + r - t)[band] * tilt_new[band]
        col = np.stack([np.interp(bs, eye.s_bins, eye.colour[:, ch]) for ch in range(3)], -1)
        sclera = col
        rho = np.hypot(bs - eye.centre[0], bt - eye.centre[1])
        soft = max(0.7, 0.06 * eye.radius)
        a_iris = np.clip((eye.radius - rho) / soft + 0.5, 0.0, 1.0)
        paint = sclera
        if (a_iris > 0).any():
            n_r = len(eye.radial)
            ridx = np.clip(rho / max(eye.radius, 1e-6) * n_r - 0.5, 0, n_r - 1)
            lo_i = np.floor(ridx).astype(int)
            hi_i = np.minimum(lo_i + 1, n_r - 1)
            fr = (ridx - lo_i)[:, None]
            iris = (1 - fr) * eye.radial[lo_i] + fr * eye.radial[hi_i]
            # Mirror the hidden top from the visible lower half where that is visible.
            mt = 2 * eye.centre[1] - bt
            m_lid = np.interp(bs, eye.upper_s, eye.upper_t) - margin[band]
            m_low = np.interp(bs, eye.lower_s, eye.lower_t) + margin[band]
            ok = (mt < m_lid - 1) & (mt > m_low + 1) & (rho < eye.radius - soft)
            if ok.any():
                # Eye-frame point (bs, mt) -> crop-box pixel.
                pts = an.origin + np.outer(bs, an.u) + np.outer(mt, an.up) - an.offset
                px = cv2.remap(eye.linear, (pts[:, 0] - x0).astype(np.float32)[:, None],
                               (pts[:, 1] - y0).astype(np.float32)[:, None], cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)[:, 0]
                lk, lp = _luma(px), _luma(iris)
                ok &= lk < 1.6 * lp + 0.01        # no mirrored catch-light
                iris[ok] = px[ok]
            paint = sclera + a_iris[:, None] * (iris - sclera)
        paint = paint * (g(d_new) * (1.0 + eye.grain[band]))[:, None]
        # Coverage: 1 inside, ramping into the photo over the overlap below and into the
        # moved lid margin over ``ramp`` pixels above (the lashes overhang the white).
        ob = over[band]
        cover = np.clip((bt - (edge[band] - ob)) / np.maximum(ob, 1e-3), 0.0, 1.0)
        top = np.clip((edge[band] + r[band] + ramp - bt) / (2 * ramp), 0.0, 1.0)
        cover = np.minimum(cover, top * np.minimum(1.0, r[band] / ramp))[:, None]
        out[band] = out[band] + cover * (paint - out[band])
    # Away from the iris the white is stretched, not painted: between the lower lid and
    # the new lid edge the original opening is spread evenly, keeping its own shading
    # (shadowed corners, lashes' shadow under the lid, texture). Over and beside the iris
    # the painted band keeps the iris round.
    side = np.clip((np.abs(s - eye.centre[0]) - 1.3 * eye.radius) / (0.6 * eye.radius), 0.0, 1.0)
    floor = low + margin
    span = np.maximum(edge - floor, 1e-3)
    zone = inside_s & (r > 0) & (side > 0) & (t > floor) & (t < edge + r)
    if zone.any():
        t_st = floor + (t - floor) * span / (span + r)
        dt_st = (t - t_st)[zone].astype(np.float32)
        pts_x = (xs[zone] - dt_st * np.float32(an.up[0])) - x0
        pts_y = (ys[zone] - dt_st * np.float32(an.up[1])) - y0
        stretched = cv2.remap(eye.linear, pts_x[:, None], pts_y[:, None], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)[:, 0]
        w = side[zone][:, None]
        out[zone] = out[zone] + w * (stretched - out[zone])
    return out


def layer(pixels: np.ndarray, face: Face, target: np.ndarray, analysis: _Analysis | None = None,
          own_pose: np.ndarray | None = None) -> Layer | None:
    """The eye layer for ``face`` moving to ``target``, or ``None`` when no upper lid rises.

    Args:
        pixels: ``(H, W, 3)`` ``uint8``/``uint16`` RGB photo the face is in.
        face: the face being edited.
        target: ``(478, 3)`` its target landmarks (pixels), in any head pose.
        analysis: :func:`analyse` of the face, if already done (it is cached per face by
            :func:`layers`).
        own_pose: :func:`pose_free` of ``target``, if already computed.

    Returns:
        A :class:`Layer` whose pixels are a crop of the photo with the lids raised and the
        revealed band painted, its face the same landmarks with the lids raised; weights on
        each eye's opening grow with the raise (full at :data:`RAISE_FOR_TEXTURE`).
    """
    iod = max(face.interocular, 1.0)
    _, _, up = _frame(face)
    own_pose = pose_free(face, target) if own_pose is None else own_pose
    raises = {side: np.maximum(lid_raise(face, own_pose, side, up), 0.0) for side in ("R", "L")}
    if max(float(v.max()) for v in raises.values()) < MIN_RAISE * iod:
        return None
    an = analysis if analysis is not None else analyse(pixels, face)
    out = an.crop.copy()
    src = face.landmarks.astype(np.float64).copy()
    weights = np.zeros(mesh.N_LANDMARKS, np.float32)
    s_all, t_all = _st(face.points, an.origin, an.u, an.up)
    for eye in an.eyes:
        r_v = raises[eye.side].copy()
        r_v[[0, -1]] = 0.0                   # corners stay
        trust = _trust(eye, an.sclera)
        if r_v.max() < MIN_RAISE * iod or trust <= 0:
            continue
        r_s = _st(face.points[list(UPPER[eye.side])], an.origin, an.u, an.up)[0]
        order = np.argsort(r_s)
        r_s, r_v = r_s[order], r_v[order]
        shift = _shift_field(eye, r_s, r_v, s_all, t_all)
        shift[list(IRIS[eye.side])] = 0.0
        src[:, :2] += shift[:, None] * an.up
        x0, y0, x1, y1 = eye.box
        out[y0:y1, x0:x1] = from_float(encode(_paint(eye, r_s, r_v, an)), out.dtype)
        fade = float(np.clip((r_v.max() / iod - MIN_RAISE) / (RAISE_FOR_TEXTURE - MIN_RAISE), 0.0, 1.0))
        weights[list(CONTOUR[eye.side]) + list(IRIS[eye.side])] = fade * trust
    if not weights.any():
        return None
    pix = out
    local = src.astype(np.float32).copy()
    local[:, :2] -= an.offset.astype(np.float32)
    h, w = pix.shape[:2]
    src_face = Face(face.index, local, (float(local[:, 0].min()), float(local[:, 1].min()),
                                        float(local[:, 0].max()), float(local[:, 1].max())), face.score, (h, w))
    # The texture is the photo itself: its eye whites are the edited face's (no colour
    # change from the renderer's white balance).
    return Layer(pix, src_face, weights, src, own_person=False, feather=1 / 400,
                 white=an.sclera, target_white=an.sclera)


_CACHE: "weakref.WeakKeyDictionary[object, tuple[int, _Analysis]]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def layers(state, target: np.ndarray) -> tuple[Layer, ...]:
    """The eye layers for one face of a session (:class:`mien.session.FaceState`) moving
    to ``target`` ``(478, 3)``: ``()`` or one :class:`Layer`. The face's analysis is
    computed once per face state and reused by every later request."""
    face = state.face
    iod = max(face.interocular, 1.0)
    up = _frame(face)[2]
    own_pose = pose_free(face, target)
    if max(float(lid_raise(face, own_pose, side, up).max()) for side in ("R", "L")) < MIN_RAISE * iod:
        return ()
    with _LOCK:
        hit = _CACHE.get(state)
    if hit is None or hit[0] != id(state.pixels):
        hit = (id(state.pixels), analyse(state.pixels, face, state.sclera))
        with _LOCK:
            _CACHE[state] = hit
    out = layer(state.pixels, face, target, hit[1], own_pose)
    return () if out is None else (out,)

"""Render a face with new target landmarks: motion, then texture, then compose.

Every control ends here. Given a photo and a :class:`~mien.scene.Scene` (one of its
faces, target landmarks in the photo's frame, texture layers, shading), :func:`plan`
computes everything at working resolution (warp fields, texture masks, illumination
gains, flow refinement) and :func:`execute` applies it once to the full-resolution pixels
and pastes the result so that every pixel outside the edited region is bit-identical to
the input. ``plan(...).preview`` is the working-resolution result, for live previews.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from . import mesh, sclera, texture
from .compose import feather, multiband_blend, paste
from .face import Face
from .scene import Layer, Scene, Shading
from .image import from_float, shrink, to_float
from .warp import (
    Grid,
    TargetMesh,
    compose,
    grid_around,
    refinement_flow,
    support_band,
    target_mesh,
)

#: Face width in working pixels.
WORK_FACE_PX = 384
#: How far a donor mouth reaches past the target's inner lip onto its lips, as a fraction
#: of the first row of lip triangles (a donor's lips are another person's colour).
LIP_MARGIN = 0.35
#: The lower inner lip's seam, in fractions of the donor's own opening (inside) and of
#: the first lip row (outside): the target's own lower lip edge covers the donor's (whose wet, red
#: inner lip otherwise shows as a line on darker lips).
LOWER_MARGIN = 0.08
#: How far from each inner corner of a donor mouth its shadow reaches, in mouth widths.
CORNER_SHADOW = 0.2


@dataclass(frozen=True, eq=False)
class LayerPlan:
    """One texture layer, worked in the window ``win`` of the working grid.

    The ``window_*`` arrays cover ``win`` only (a mouth is a small part of the grid);
    the full-grid views (``map``, ``alpha``, ``gain``, ``preview``, ``cavity``, ``lower``)
    are built on first use, which only the full-resolution render needs.

    Attributes:
        layer: the texture source.
        win: ``(rows, cols)`` slices with explicit bounds into the ``size`` grid.
        size: the grid's ``(h, w)``.
        coords: ``(h, w, 2)`` the grid's own positions (the map's value outside ``win``).
        window_map: ``(wh, ww, 2)`` refined backward map into ``layer.pixels``.
        window_alpha: ``(wh, ww)`` ``float32`` feathered texture weight.
        window_gain: ``(wh, ww, 3)`` ``float32`` illumination gain.
        window_preview: ``(wh, ww, 3)`` ``float32`` adapted texture at working resolution.
        window_cavity: ``(wh, ww)`` mask and ``(wh, ww, 3)`` colour of a mouth's cavity.
        window_lower: ``(wh, ww, 2)`` map and ``(wh, ww)`` weight of a donor's lower part.
    """

    layer: Layer
    win: tuple[slice, slice]
    size: tuple[int, int]
    coords: np.ndarray
    window_map: np.ndarray
    window_alpha: np.ndarray
    window_gain: np.ndarray
    window_preview: np.ndarray
    window_cavity: tuple[np.ndarray, np.ndarray] | None = None
    window_lower: tuple[np.ndarray, np.ndarray] | None = None

    def _full(self, values: np.ndarray, fill: float | np.ndarray = 0.0) -> np.ndarray:
        return _embed(values, self.win, self.size, fill)

    @cached_property
    def map(self) -> np.ndarray:
        """``(h, w, 2)`` backward map; the identity outside ``win``."""
        return self._full(self.window_map, self.coords)

    @cached_property
    def alpha(self) -> np.ndarray:
        """``(h, w)`` ``float32`` texture weight; zero outside ``win``."""
        return self._full(self.window_alpha)

    @cached_property
    def gain(self) -> np.ndarray:
        """``(h, w, 3)`` ``float32`` gain; one outside ``win``."""
        return self._full(self.window_gain, 1.0)

    @cached_property
    def preview(self) -> np.ndarray:
        """``(h, w, 3)`` ``float32`` adapted texture; zero outside ``win``."""
        return self._full(self.window_preview)

    @cached_property
    def cavity(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(h, w)`` mask and ``(h, w, 3)`` colour of a mouth's cavity, or ``None``."""
        if self.window_cavity is None:
            return None
        return self._full(self.window_cavity[0]), self._full(self.window_cavity[1])

    @cached_property
    def lower(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(h, w, 2)`` map and ``(h, w)`` weight of a donor's lower part, or ``None``."""
        if self.window_lower is None:
            return None
        return self._full(self.window_lower[0], self.coords), self._full(self.window_lower[1])


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything :func:`execute` needs, at working resolution.

    ``preview`` is the rendered crop at working resolution, ``(h, w, 3)`` ``float32``,
    for live previews (``None`` when :func:`plan` was asked not to build it);
    ``shading`` an optional ``(h, w, 3)`` gain on the warped photo.
    """

    grid: Grid
    mesh: TargetMesh
    map: np.ndarray
    layers: tuple[LayerPlan, ...]
    preview: np.ndarray | None
    shading: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class WorkingCopy:
    """A region of a photo shrunk once to working resolution, for repeated previews.

    Attributes:
        pixels: ``(h, w, 3)`` shrunk pixels, the photo's dtype.
        x0, y0: the region's top-left corner in the photo (full pixels).
        fx, fy: working pixels per photo pixel along x and y.
    """

    pixels: np.ndarray
    x0: int
    y0: int
    fx: float
    fy: float

    @classmethod
    def of(cls, image: np.ndarray, grid: Grid, pad: float = 0.25) -> "WorkingCopy":
        """Shrink ``image`` over ``grid``'s crop, grown by ``pad`` of its size each side,
        to the grid's resolution."""
        h, w = image.shape[:2]
        ch, cw = grid.full_size
        x0, y0 = max(0, int(grid.x0 - pad * cw)), max(0, int(grid.y0 - pad * ch))
        x1, y1 = min(w, int(grid.x0 + (1 + pad) * cw) + 1), min(h, int(grid.y0 + (1 + pad) * ch) + 1)
        roi = image[y0:y1, x0:x1]
        sy, sx = grid.ratio
        f = min(1.0, 1.0 / max(sx, sy))
        sw, sh = max(1, round(roi.shape[1] * f)), max(1, round(roi.shape[0] * f))
        return cls(shrink(roi, (sw, sh)), x0, y0, sw / roi.shape[1], sh / roi.shape[0])

    def sample(self, field: np.ndarray) -> np.ndarray:
        """``(h, w, 3)`` ``float32`` the copy at photo positions ``field`` ``(h, w, 2)``."""
        mx = ((field[..., 0] - self.x0 + 0.5) * self.fx - 0.5).astype(np.float32)
        my = ((field[..., 1] - self.y0 + 0.5) * self.fy - 0.5).astype(np.float32)
        return to_float(cv2.remap(self.pixels, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))


def _sample(image: np.ndarray, field: np.ndarray, factor: float, valid: np.ndarray | None = None) -> np.ndarray:
    """Sample a full-resolution image at working resolution without aliasing.

    Args:
        image: ``(H, W, 3)`` integer RGB.
        field: ``(h, w, 2)`` positions in ``image`` (full pixels).
        factor: working pixels per image pixel (``<= 1`` shrinks before sampling).
        valid: ``(h, w)`` bool, where the samples are used; only that region of
            ``image`` is shrunk (elsewhere the result is unspecified).

    Returns:
        ``(h, w, 3)`` ``float32`` in ``[0, 1]``.
    """
    h, w = image.shape[:2]
    pts = field[valid] if valid is not None and valid.any() else field.reshape(-1, 2)
    x0 = int(np.clip(np.floor(pts[:, 0].min()) - 4, 0, w - 1))
    y0 = int(np.clip(np.floor(pts[:, 1].min()) - 4, 0, h - 1))
    x1 = int(np.clip(np.ceil(pts[:, 0].max()) + 5, x0 + 1, w))
    y1 = int(np.clip(np.ceil(pts[:, 1].max()) + 5, y0 + 1, h))
    roi = image[y0:y1, x0:x1]
    f = min(1.0, factor)
    if f < 0.999:
        sw, sh = max(1, round(roi.shape[1] * f)), max(1, round(roi.shape[0] * f))
        fx, fy = sw / roi.shape[1], sh / roi.shape[0]
        roi = shrink(roi, (sw, sh))
    else:
        fx = fy = 1.0
    # Only the window where samples are used is remapped (a mouth layer is a small part
    # of the grid); elsewhere the result is zero.
    if valid is not None and valid.any():
        rows, cols = np.nonzero(valid.any(axis=1))[0], np.nonzero(valid.any(axis=0))[0]
        win = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    else:
        win = (slice(None), slice(None))
    sub = field[win]
    mx = ((sub[..., 0] - x0 + 0.5) * fx - 0.5).astype(np.float32)
    my = ((sub[..., 1] - y0 + 0.5) * fy - 0.5).astype(np.float32)
    out = np.zeros(field.shape[:2] + (3,), np.float32)
    out[win] = to_float(cv2.remap(roi, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def _shading_support(shading: Shading, n_triangles: int) -> np.ndarray:
    """``(n_triangles,)`` bool: the target mesh's triangles whose place in the shading's
    texture frame overlaps where its map is not zero (band triangles: never)."""
    support = np.zeros(n_triangles, bool)
    if shading.amount == 0:
        return support
    # Shading maps are smooth (blurred folds, a low-pass ratio image): every 4th pixel
    # finds their extent, to within the margin below.
    step = 4
    nonzero = (np.abs(shading.log_ratio[::step, ::step]) > 1e-5).any(axis=2)
    rows, cols = np.flatnonzero(nonzero.any(axis=1)) * step, np.flatnonzero(nonzero.any(axis=0)) * step
    if rows.size == 0:
        return support
    corners = shading.landmarks[:, :2][mesh.triangles()]  # (T, 3, 2) texture-frame pixels
    lo, hi = corners.min(axis=1), corners.max(axis=1)
    # The sampling step plus one pixel that bilinear lookups read beside.
    m = step + 1
    support[: len(corners)] = ((hi[:, 0] >= cols[0] - m) & (lo[:, 0] <= cols[-1] + m)
                               & (hi[:, 1] >= rows[0] - m) & (lo[:, 1] <= rows[-1] + m))
    return support


def _embed(values: np.ndarray, win: tuple[slice, slice], size: tuple[int, int],
           fill: float | np.ndarray = 0.0) -> np.ndarray:
    """A grid-sized array holding ``values`` in window ``win`` and ``fill`` elsewhere
    (``fill`` may be a grid-sized array to copy)."""
    if values.shape[:2] == tuple(size):
        return values
    if isinstance(fill, np.ndarray):
        out = fill.astype(values.dtype, copy=True)
    else:
        out = np.full(tuple(size) + values.shape[2:], fill, values.dtype)
    out[win] = values
    return out


def _grey(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def visibility(face: Face) -> np.ndarray:
    """``(478,)`` how squarely each landmark's surface faces the camera, in ``[0, 1]``.

    Texture seen at a grazing angle (the far side of a turned head) is stretched and
    partly hidden; it is faded out rather than transferred.
    """
    _, tris = mesh.canonical()
    p = face.landmarks[: mesh.N_SURFACE].astype(np.float64)
    normals = np.cross(p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]])
    vert = np.zeros_like(p)
    for k in range(3):
        np.add.at(vert, tris[:, k], normals)
    vert /= np.linalg.norm(vert, axis=1, keepdims=True) + 1e-12
    facing = -vert[:, 2]
    if np.median(facing) < 0:  # winding differs from the assumed one: flip
        facing = -facing
    vis = np.ones(mesh.N_LANDMARKS)
    vis[: mesh.N_SURFACE] = np.clip((facing - 0.1) / 0.3, 0.0, 1.0)
    return vis


def _agreement(face: Face, aligned: np.ndarray) -> np.ndarray:
    """``(478,)`` weight of landmarks where the two photos should look alike.

    High on skin whose landmarks the expression did not move (relative to the
    inter-ocular distance); zero on eyes, brows and lips, whose look always changes.
    """
    motion = np.linalg.norm(aligned[:, :2] - face.landmarks[:, :2], axis=1) / max(face.interocular, 1.0)
    w = np.exp(-((motion / 0.04) ** 2))
    features = np.zeros(mesh.N_LANDMARKS)
    for contour in (mesh.LIPS_OUTER, mesh.LIPS_INNER, mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LEFT_BROW, mesh.RIGHT_BROW):
        features[list(contour)] = 1.0
    features[mesh.N_SURFACE:] = 1.0
    return w * (1.0 - features) * mesh.border_weights()


def _mouth_depth(tm: TargetMesh, triangles: np.ndarray,
                 win: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """Where a pixel lies relative to the target's mouth opening.

    Returns:
        ``(depth, inside)``, each ``float32`` over the grid window ``win``, zero where ``triangles``
        (``(T,)`` bool) do not reach. ``depth``: 0 on the upper inner lip, -1 on the upper
        lip and above, 1 on the lower inner lip, 2 on the lower lip and below (each vertex
        goes to the side of the nearest inner-lip landmark; 0.5 at the corners).
        ``inside``: 1 in the opening, falling to 0 one row of triangles outside it (the
        side assignment jumps beside the corners, where only ``inside`` is trusted).
    """
    upper = [u for u, _ in mesh.INNER_LIP_PAIRS]
    lower = [lo for _, lo in mesh.INNER_LIP_PAIRS]
    pts = np.asarray(tm.points, np.float64)
    inner = pts[upper + lower]
    d = np.linalg.norm(pts[:, None, :2] - inner[None, :, :2], axis=2)
    per_vertex = np.where(d.argmin(axis=1) >= len(upper), 2.0, -1.0)
    per_vertex[upper] = 0.0
    per_vertex[lower] = 1.0
    for corner in (mesh.LIPS_INNER[0], mesh.LIPS_INNER[10]):
        per_vertex[corner] = 0.5
    inside = np.zeros_like(per_vertex)
    inside[list(mesh.LIPS_INNER)] = 1.0
    both = tm.interpolate(np.stack([per_vertex, inside], axis=1), triangles=triangles, window=win)
    return both[..., 0], both[..., 1]


def _oral_cavity(depth: np.ndarray, texture: np.ndarray, top: float, bottom: float,
                 opening: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How a donor mouth fills the target's opening (:class:`mien.donors.DonorLayer`).

    Down to ``top`` (fraction of the opening from the upper inner lip) the upper-anchored
    texture shows its upper teeth at natural size; from ``bottom`` on the lower-anchored
    one shows the donor's lower part along the lower lip; between the two (if
    ``top < bottom``) lies an open, shadowed cavity coloured like the texture's darkest
    interior tone (at most a dark grey), darkest under the upper teeth; a cavity taller
    than ~0.04 inter-ocular distances shows the tongue's dull red toward its bottom. If the two overlap the lower part starts where
    the upper teeth end (the lower teeth behind them), and the lower lip (depth > 1)
    always takes the lower-anchored texture.

    Args:
        depth: ``(h, w)`` from :func:`_mouth_depth`.
        texture: ``(h, w, 3)`` ``float32`` the upper-anchored texture, for its tones.
        opening: the target's opening in inter-ocular distances (for the tongue).

    Returns:
        ``(mask, colour, lower)``: the cavity ``(h, w)`` ``float32`` in ``[0, 1]``, its
        colour ``(h, w, 3)`` ``float32``, and ``(h, w)`` ``float32`` the weight of the
        lower-anchored texture.
    """
    soft = 0.06
    inside = (depth > 0) & (depth < 1.5)
    mask = (np.clip((depth - top) / soft + 0.5, 0.0, 1.0) * np.clip((bottom - depth) / soft + 0.5, 0.0, 1.0)
            * min(1.0, (bottom - top) / soft))  # no cavity at all at the donor's own opening
    # The depth is piecewise linear over few triangles: soften its kinks.
    mask = (cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0) * inside).astype(np.float32)
    cut = 0.5 * (top + bottom) if top < bottom else min(top, 1.0)
    lower = np.clip((depth - cut) / soft + 0.5, 0.0, 1.0).astype(np.float32)
    lower = cv2.GaussianBlur(lower, (0, 0), 1.0) * (depth > 0)
    teeth = (mask < 0.5) & inside & (depth < 1.0)
    dark = np.percentile(texture[teeth], 5, axis=0) if teeth.sum() > 10 else np.array([0.1, 0.05, 0.05])
    base = 0.6 * np.asarray(dark, np.float32)
    base *= min(1.0, 0.09 / max(float(_grey(base)), 1e-6))  # a cavity is dark in any donor
    across = np.clip((depth - top) / max(bottom - top, 1e-3), 0.0, 1.0)[..., None]
    height = max(bottom - top, 0.0) * opening
    tongue = np.float32(np.clip((height - 0.04) / 0.06, 0.0, 1.0)) * across**1.5
    colour = base * (0.6 + 0.3 * across + tongue * np.array([0.9, 0.35, 0.3], np.float32))
    return mask, colour.astype(np.float32), lower.astype(np.float32)


def _donor_gain(pixels: np.ndarray, face: Face, layer: Layer) -> np.ndarray:
    """``(3,)`` gain carrying a donor's texture into the edited photo's light: its colour
    relative to its own eye whites, over to ``face``'s eye whites (measured here unless the
    layer carries them), with the cheeks as check and fallback (:func:`texture.white_gain`)."""
    dst = layer.target_white if layer.target_white is not None else sclera.measure(pixels, face)
    src = layer.white if layer.white is not None else sclera.measure(layer.pixels, layer.face)
    return texture.white_gain(dst.colour, src.colour, min(dst.confidence, src.confidence), dst.skin, src.skin)


def plan(pixels: np.ndarray, scene: Scene, *, work_px: int = WORK_FACE_PX, grid: Grid | None = None,
         copy: WorkingCopy | None = None, preview: bool = True) -> Plan:
    """Compute an edit at working resolution.

    Args:
        pixels: ``(H, W, 3)`` ``uint8``/``uint16`` RGB photo being edited.
        scene: what the face should look like (target, layers, shading, refinement).
        work_px: face width in working pixels.
        grid: a fixed working grid (previews keep one per face); by default one is laid
            around the face and its target.
        copy: the photo already shrunk to ``grid``'s resolution (previews keep one per
            face); by default the photo is shrunk where it is sampled.
        preview: build ``Plan.preview``. ``False`` (video, which renders only at full
            resolution) skips sampling the photo at working resolution when nothing else
            needs it (no refinement, no layer of the same person); ``Plan.preview`` is then
            ``None``. :func:`execute`'s result is the same either way.

    Returns:
        The :class:`Plan`; its ``preview`` is the edited crop at working resolution.
    """
    face, target, layers, shading = scene.face, scene.target, scene.layers, scene.shading
    refine = scene.refine
    target = np.asarray(target, np.float64)
    if grid is None:
        grid = grid_around(np.concatenate([face.points, target[:, :2]]), face.image_size, work_px)
    sy, sx = grid.ratio
    scale = 1.0 / max(sx, sy)
    face_work = face.size * scale
    tm = target_mesh(target[:, :2], grid, depth=target[:, 2])
    surface, n_ring = mesh.N_LANDMARKS, len(tm.ring)
    # Every field and mask is a per-vertex quantity interpolated over the one rasterised
    # target mesh, each only over the pixels where it can be non-zero.
    own_disp = np.concatenate([face.points[:surface] - target[:surface, :2], np.zeros((n_ring, 2))])
    coords = grid.coords()
    own = coords + tm.interpolate(own_disp)
    # The photo at working resolution: the preview's canvas, the light a layer of the same
    # person is matched to, and what refinement aligns to.
    if preview or refine or any(layer.own_person for layer in layers):
        base = copy.sample(own) if copy is not None else _sample(pixels, own, scale)
    else:
        base = None
    shade = None
    support = _shading_support(shading, len(tm.triangles)) if shading is not None else None
    if support is not None and support.any():
        # The shading lives on the face only (skip the support band), and only where its
        # map is not zero (a frown's creases cover the brows, not the face): elsewhere
        # the lookup lands far outside the texture, where the gain is 1.
        win = tm.window_of(support, 1)
        where = coords[win] + tm.interpolate(
            np.concatenate([shading.landmarks[:surface, :2] - target[:surface, :2], np.zeros((n_ring, 2))]),
            outside=-1e6, face_only=True, triangles=support, window=win)
        log_ratio = cv2.remap(shading.log_ratio, where[..., 0], where[..., 1], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        shaded = np.exp(np.float32(shading.amount) * log_ratio, dtype=np.float32)
        if base is not None:
            base[win] = np.clip(base[win] * shaded, 0.0, 1.0)
        shade = _embed(shaded, win, grid.size, 1.0)
    canvas = None if base is None else base.copy()
    layer_plans = []
    for layer in layers:
        ring, _ = support_band(layer.face.points[:surface])
        weights = np.asarray(layer.weights, np.float64) * mesh.border_weights()
        if layer.own_person:
            # Fade texture seen at a grazing angle. (Donor crops are frontal, and their
            # landmarks are reshaped for deep openings, which would tilt the normals.)
            weights = weights * visibility(layer.face)
        per_vertex = np.concatenate([
            np.concatenate([layer.face.points[:surface] - target[:surface, :2], ring - tm.ring]),
            np.concatenate([weights[:surface], np.zeros(n_ring)])[:, None],
            np.concatenate([_agreement(face, layer.aligned)[:surface], np.zeros(n_ring)])[:, None],
        ], axis=1)
        # Displacement, texture weight and agreement: needed only where the layer has weight.
        used_tris = per_vertex[tm.triangles, 2].max(axis=1) > 0
        blur = max(0.7, face_work * layer.feather)
        # A donor's work stays in the window its weight reaches (a mouth is a small part
        # of the grid); a photo of the same person is lit by a wide low-pass over the
        # whole grid, so its layer covers all of it.
        whole = (slice(0, grid.size[0]), slice(0, grid.size[1]))
        win = whole if layer.own_person else tm.window_of(used_tris, int(4 * blur) + 2)
        if not used_tris.any() or coords[win].size == 0:
            continue
        values = tm.interpolate(per_vertex, triangles=used_tris, window=win)
        field = coords[win] + values[..., 0:2]
        alpha = feather(np.clip(values[..., 2], 0, 1), 0, blur)
        agree = values[..., 3]
        factor = scale * face.size / max(layer.face.size, 1.0)
        used = alpha > 0
        # A donor mouth (mien.donors.DonorLayer): the lower lip and what lies along it come
        # from the donor anchored at ITS lower lip, a cavity between.
        opened = getattr(layer, "lower_points", None) is not None
        if opened:
            depth, inside = _mouth_depth(tm, used_tris, win)
            # The donor fills the opening; its lips (another person's colour) reach only a
            # little past the target's inner lip, enough for the seam.
            near_opening = np.clip((inside - (1.0 - LIP_MARGIN)) / LIP_MARGIN, 0.0, 1.0)
            lips = np.minimum(near_opening,
                              np.clip((1.0 + LOWER_MARGIN - depth)
                                      / (LOWER_MARGIN * (1.0 + 1.0 / max(layer.cavity, 1.0))), 0.0, 1.0))
            alpha = alpha * cv2.GaussianBlur(lips.astype(np.float32), (0, 0), 0.7)
            low_pts = layer.lower_points
            low_disp = np.concatenate([low_pts[:surface] - target[:surface, :2], ring - tm.ring])
            field_low = coords[win] + tm.interpolate(low_disp, triangles=used_tris, window=win)
        tex = _sample(layer.pixels, field, factor, used)
        cavity = lower = None
        if opened:
            cav_mask, cav_colour, lower = _oral_cavity(depth, tex, layer.teeth_end, layer.lower_start,
                                                       float(np.linalg.norm(target[13, :2] - target[14, :2])) / max(face.interocular, 1.0))
            # The corners of a smile's opening are in shadow (the buccal corridor); a
            # donor's own corners show its gums and inner lips, another person's red.
            width = float(np.linalg.norm(target[61, :2] - target[291, :2]))
            near = np.min([np.linalg.norm(coords[win] - target[c, :2], axis=-1)
                           for c in (mesh.LIPS_INNER[0], mesh.LIPS_INNER[10])], axis=0)
            corner = np.clip(1.0 - near / (CORNER_SHADOW * width), 0.0, 1.0) ** 1.5
            cav_mask = np.maximum(cav_mask * near_opening, (0.9 * corner * near_opening).astype(np.float32))
            tex = tex + lower[..., None] * (_sample(layer.pixels, field_low, factor, used) - tex)
        if layer.own_person:
            gain = texture.illumination_gain(base, tex, agree, sigma=face_work / 8)
        else:
            gain = np.broadcast_to(_donor_gain(pixels, face, layer), tex.shape).astype(np.float32)
        if refine and alpha.max() > 0:
            # Inside the region E's texture follows the mesh; toward the seam it is pulled
            # into alignment with the surrounding warped photo, so edges meet.
            confidence = agree * (4.0 * alpha * (1.0 - alpha))
            flow = refinement_flow(_grey(base[win]), _grey(tex * gain), confidence, sigma=face_work / 20)
            seam = np.clip(2.0 * (1.0 - alpha), 0.0, 1.0)[..., None]
            field = field + seam * (compose(field, flow) - field)
            tex = _sample(layer.pixels, field, factor, used)
            if opened:
                field_low = field_low + seam * (compose(field_low, flow) - field_low)
                tex = tex + lower[..., None] * (_sample(layer.pixels, field_low, factor, used) - tex)
        adapted = np.clip(tex * gain, 0, 1)
        if opened:
            cav_colour = np.clip(cav_colour * gain, 0, 1)
            mask = cav_mask[..., None]
            adapted = adapted * (1.0 - mask) + cav_colour * mask
            cavity = (cav_mask, cav_colour)
            lower = (field_low, lower)
        if canvas is not None:
            canvas[win] += alpha[..., None] * (adapted - canvas[win])
        layer_plans.append(LayerPlan(layer, win, grid.size, coords, field, alpha, gain, adapted, cavity, lower))
    return Plan(grid, tm, own, tuple(layer_plans), canvas, shade)


def execute(pixels: np.ndarray, p: Plan) -> np.ndarray:
    """Apply a :class:`Plan` to the full-resolution photo.

    Only the rectangle that holds every changed pixel and every layer's blend box is
    warped, and only the part of it that is lit or blended is worked in ``float32``
    (elsewhere the warped pixels are the result: a round trip through ``float32`` gives
    back every integer exactly).

    Returns:
        ``(H, W, 3)`` array of ``pixels``' dtype; pixels the edit does not reach are
        bit-identical to ``pixels``.
    """
    grid = p.grid
    coords = grid.coords()
    disp = p.map - coords
    changed_work = np.maximum(np.abs(disp[..., 0]), np.abs(disp[..., 1])) > 1e-3
    if p.shading is not None:
        off = np.abs(p.shading - 1.0) > 1e-4  # (a max over the 3-long last axis is slow in numpy)
        changed_work |= off[..., 0] | off[..., 1] | off[..., 2]
    blends = []  # (layer, its alpha on the crop, its box in crop pixels)
    for lp in p.layers:
        alpha_full = grid.upsample(lp.alpha)
        box = _box(alpha_full > 1.0 / 512, pad=16)  # the blend's margin
        if box is None:
            continue
        changed_work |= lp.alpha > 0
        blends.append((lp, alpha_full, box))
    changed = grid.upsample(cv2.dilate(changed_work.astype(np.uint8), np.ones((3, 3), np.uint8))) > 0
    rect = _union([_box(changed), *(b for _, _, b in blends)])
    if rect is None:
        return pixels.copy()
    ry0, ry1, rx0, rx1 = rect
    # The same cubic remap as warp.apply, over the rectangle only, with the map built in
    # place as one (h, w, 2) array (OpenCV reads it without splitting x and y into copies).
    warped = cv2.remap(pixels, _positions(grid.upsample(disp)[ry0:ry1, rx0:rx1], grid.x0 + rx0, grid.y0 + ry0),
                       None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    # The float32 part: where the shading is not exactly 1 (elsewhere a gain within an ulp
    # of 1 returns every integer exactly) and the blend boxes.
    lit = None
    if p.shading is not None:
        ne = p.shading != 1.0
        lit = _full_box(_box(ne[..., 0] | ne[..., 1] | ne[..., 2]), grid, rect)
    if lit is not None or blends:
        fy0, fy1, fx0, fx1 = _union([lit, *(b for _, _, b in blends)])
    else:
        fy0 = fy1 = fx0 = fx1 = 0
    work = to_float(warped[fy0 - ry0:fy1 - ry0, fx0 - rx0:fx1 - rx0])
    if p.shading is not None:
        work *= grid.upsample(p.shading)[fy0:fy1, fx0:fx1]
        np.clip(work, 0.0, 1.0, out=work)
    for lp, alpha_full, (by0, by1, bx0, bx1) in blends:
        box = np.s_[by0:by1, bx0:bx1]
        x0, y0 = grid.x0 + bx0, grid.y0 + by0
        field = _positions(grid.upsample(lp.map - coords)[box], x0, y0)
        layer_pixels = to_float(cv2.remap(lp.layer.pixels, field, None, cv2.INTER_CUBIC,
                                          borderMode=cv2.BORDER_REFLECT))
        if lp.lower is not None:
            low = _positions(grid.upsample(lp.lower[0] - coords)[box], x0, y0)
            low_tex = to_float(cv2.remap(lp.layer.pixels, low, None, cv2.INTER_CUBIC,
                                         borderMode=cv2.BORDER_REFLECT))
            weight = grid.upsample(lp.lower[1])[by0:by1, bx0:bx1, None]
            layer_pixels += weight * (low_tex - layer_pixels)
        layer_pixels *= grid.upsample(lp.gain)[box]
        if lp.cavity is not None:
            mask = grid.upsample(lp.cavity[0])[by0:by1, bx0:bx1, None]
            colour = grid.upsample(lp.cavity[1])[box]
            layer_pixels = layer_pixels * (1.0 - mask) + colour * mask
        region = work[by0 - fy0:by1 - fy0, bx0 - fx0:bx1 - fx0]
        multiband_blend(region, layer_pixels, alpha_full[box], out=region)
    if work.size:
        warped[fy0 - ry0:fy1 - ry0, fx0 - rx0:fx1 - rx0] = from_float(work, pixels.dtype)
    return paste(pixels, warped, grid.x0 + rx0, grid.y0 + ry0, changed[ry0:ry1, rx0:rx1])


def _box(mask: np.ndarray, pad: int = 0) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)``: the bounding box of a ``(h, w)`` bool mask grown by ``pad``
    and clipped to it, or ``None`` when nothing is set."""
    # OpenCV's box of the non-zero pixels of an 8-bit image (one pass; numpy's row and
    # column any() over a full-resolution mask cost ~1 ms each)
    x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    if bw == 0 or bh == 0:
        return None
    h, w = mask.shape
    return max(y - pad, 0), min(y + bh + pad, h), max(x - pad, 0), min(x + bw + pad, w)


def _full_box(box: tuple[int, int, int, int] | None, grid: Grid,
              within: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """The crop pixels whose bilinear upsampling (:meth:`Grid.upsample`) reads any working
    pixel of ``box`` (both ``(y0, y1, x0, x1)``), a pixel wider each way, clipped to
    ``within``; ``None`` for no box or no overlap."""
    if box is None:
        return None
    sy, sx = grid.ratio
    y0, y1, x0, x1 = box
    # full pixel y reads working rows floor(v) and floor(v) + 1, v = (y + 0.5) / sy - 0.5
    out = (max(within[0], math.floor((y0 - 0.5) * sy - 0.5) - 1), min(within[1], math.ceil((y1 + 0.5) * sy - 0.5) + 1),
           max(within[2], math.floor((x0 - 0.5) * sx - 0.5) - 1), min(within[3], math.ceil((x1 + 0.5) * sx - 0.5) + 1))
    return out if out[1] > out[0] and out[3] > out[2] else None


def _union(boxes: list[tuple[int, int, int, int] | None]) -> tuple[int, int, int, int] | None:
    """The bounding box of several ``(y0, y1, x0, x1)`` boxes (``None`` ones skipped)."""
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), max(b[3] for b in boxes))


def _positions(disp: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """Displacements to positions, in place: ``disp`` ``(h, w, 2)`` ``float32`` of the
    pixels whose top-left one is photo pixel ``(x0, y0)`` plus their own ``(x, y)`` (the
    same sums as ``Grid.full_coords() + disp``). Returns ``disp``."""
    h, w = disp.shape[:2]
    disp[..., 0] += np.arange(x0, x0 + w, dtype=np.float32)
    disp[..., 1] += np.arange(y0, y0 + h, dtype=np.float32)[:, None]
    return disp


def render(pixels: np.ndarray, scenes: Scene | tuple[Scene, ...]) -> np.ndarray:
    """:func:`plan` then :func:`execute` for each scene (one per face), at full resolution.

    Returns:
        ``(H, W, 3)`` array of ``pixels``' dtype; scenes that change nothing leave the
        photo bit-identical.
    """
    out = pixels
    for scene in (scenes,) if isinstance(scenes, Scene) else scenes:
        if not scene.changes_nothing:
            out = execute(out, plan(out, scene))
    return out

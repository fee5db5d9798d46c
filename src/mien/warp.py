"""Motion: dense backward warp fields from one face mesh to another.

Convention (as in kornia): a warp field is **backward**. For every pixel ``p`` of the
*output* (target geometry) it stores the position ``map[p]`` in the *source* image to
sample, in full-resolution source pixels ``(x, y)``, pixel centres on integers.

Fields are computed on a :class:`Grid`, a working-resolution lattice over a crop of the
output frame, then upsampled and applied **once** to the full-resolution source (seed 001
§4.3), so a 20-megapixel photo is resampled once, at its own resolution.

A face mesh is warped triangle by triangle over MediaPipe's 898-triangle tessellation;
a band of triangles out to a support ring around the face carries the displacement down
to exactly zero, so the field is continuous, has no seam and is the identity outside.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from . import mesh
from .image import blur

#: How far the support ring lies from the face centre, relative to the face outline.
RING_FACTOR = 1.35


@dataclass(frozen=True)
class Grid:
    """A working-resolution sampling lattice over a crop of the full-resolution frame.

    The crop is ``[x0, x0 + full_size[1]) x [y0, y0 + full_size[0])`` in full pixels;
    working pixel ``(i, j)`` sits at full-resolution position
    ``(x0 + (j + 0.5) * sx - 0.5, y0 + (i + 0.5) * sy - 0.5)`` with ``sx, sy`` the
    full-to-working size ratios, which is exactly what ``cv2.resize`` assumes, so a
    working field upsamples to the crop with one bilinear resize.
    """

    x0: int
    y0: int
    full_size: tuple[int, int]
    size: tuple[int, int]

    @property
    def ratio(self) -> tuple[float, float]:
        """``(sy, sx)`` full pixels per working pixel."""
        return self.full_size[0] / self.size[0], self.full_size[1] / self.size[1]

    def to_work(self, points: np.ndarray) -> np.ndarray:
        """Full-resolution ``(..., 2)`` ``(x, y)`` points to working pixel coordinates."""
        sy, sx = self.ratio
        out = np.empty(points.shape, np.float64)
        out[..., 0] = (points[..., 0] - self.x0 + 0.5) / sx - 0.5
        out[..., 1] = (points[..., 1] - self.y0 + 0.5) / sy - 0.5
        return out

    def coords(self) -> np.ndarray:
        """``(h, w, 2)`` ``float32`` full-resolution ``(x, y)`` of every working pixel."""
        sy, sx = self.ratio
        h, w = self.size
        xs = self.x0 + (np.arange(w) + 0.5) * sx - 0.5
        ys = self.y0 + (np.arange(h) + 0.5) * sy - 0.5
        gx, gy = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
        return np.stack([gx, gy], axis=-1)

    def full_coords(self) -> np.ndarray:
        """``(H, W, 2)`` ``float32`` full-resolution ``(x, y)`` of every crop pixel."""
        h, w = self.full_size
        gx, gy = np.meshgrid(np.arange(self.x0, self.x0 + w, dtype=np.float32),
                             np.arange(self.y0, self.y0 + h, dtype=np.float32))
        return np.stack([gx, gy], axis=-1)

    def upsample(self, values: np.ndarray) -> np.ndarray:
        """Bilinearly resize a working-resolution ``(h, w[, C])`` array to the crop."""
        h, w = self.full_size
        if (h, w) == tuple(self.size):
            return values
        return cv2.resize(values, (w, h), interpolation=cv2.INTER_LINEAR)


def grid_around(points: np.ndarray, image_size: tuple[int, int], face_px: int = 384,
                margin: float = RING_FACTOR + 0.08) -> Grid:
    """The grid for editing one face.

    Args:
        points: ``(N, 2)`` face landmarks (full pixels) whose outline sets the crop.
        image_size: ``(h, w)`` of the full image.
        face_px: the face's width in working pixels (never more than full resolution).
        margin: crop half-size relative to the face outline's half-size.
    """
    oval = points[list(mesh.FACE_OVAL)] if len(points) >= mesh.N_SURFACE else points
    centre = oval.mean(axis=0)
    half = np.abs(oval - centre).max(axis=0) * margin + 2
    h, w = image_size
    x0, y0 = int(max(0, np.floor(centre[0] - half[0]))), int(max(0, np.floor(centre[1] - half[1])))
    x1, y1 = int(min(w, np.ceil(centre[0] + half[0]) + 1)), int(min(h, np.ceil(centre[1] + half[1]) + 1))
    face_w = float(np.ptp(oval[:, 0])) + 1.0
    f = min(1.0, face_px / face_w)
    size = (max(2, round((y1 - y0) * f)), max(2, round((x1 - x0) * f)))
    return Grid(x0, y0, (y1 - y0, x1 - x0), size)


def support_band(points: np.ndarray, factor: float = RING_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """A ring of support points around a face and the band of triangles out to it.

    Args:
        points: ``(N, 2)`` face landmarks.

    Returns:
        ``(ring, triangles)``: ``(L, 2)`` ring points (indices ``N .. N+L-1``) and
        ``(2L, 3)`` triangles joining the face outline to the ring.
    """
    loop = mesh.boundary_loop()
    n, count = len(points), len(loop)
    outline = points[loop]
    centre = outline.mean(axis=0)
    ring = centre + factor * (outline - centre)
    i = np.arange(count)
    j = (i + 1) % count
    tris = np.concatenate([
        np.stack([loop[i], loop[j], n + j], 1),
        np.stack([loop[i], n + j, n + i], 1),
    ])
    return ring, tris.astype(np.int32)


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``(T,)`` twice the signed area of each triangle (positive: counter-clockwise in x-y)."""
    c = points[triangles]
    a, b = c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


def draw_order(points: np.ndarray, triangles: np.ndarray, groups: np.ndarray,
               depth: np.ndarray | None = None) -> np.ndarray:
    """Painter's order: back-facing triangles first, then far to near.

    A triangle is back-facing when its winding differs from the majority of its group
    (the mesh and the support band are wound independently): the far side of a turned
    head, or a thin sliver at the silhouette that a motion flipped. Drawing those first
    lets the front surface cover them, so the field never folds over.

    Args:
        points: ``(N, 2)`` vertex positions.
        triangles: ``(T, 3)``.
        groups: ``(T,)`` group label of each triangle.
        depth: optional ``(N,)`` depth, larger farther.

    Returns:
        ``(T,)`` triangle indices in drawing order.
    """
    area = signed_areas(points, triangles)
    back = np.zeros(len(triangles), bool)
    for g in np.unique(groups):
        sel = groups == g
        majority = np.sign(np.median(area[sel]))
        back[sel] = np.sign(area[sel]) != majority
    far = np.zeros(len(triangles)) if depth is None else -depth[triangles].mean(axis=1)
    return np.lexsort((far, ~back))


def rasterize(points: np.ndarray, triangles: np.ndarray, size: tuple[int, int],
              order: np.ndarray | None = None) -> np.ndarray:
    """Which triangle covers each pixel.

    Args:
        points: ``(N, 2)`` vertex positions in the raster's pixel coordinates.
        triangles: ``(T, 3)`` vertex indices.
        size: ``(h, w)`` of the raster.
        order: drawing order (later wins overlaps), e.g. from :func:`draw_order`.

    Returns:
        ``(h, w)`` ``int32`` triangle index, ``-1`` where no triangle is.
    """
    ids = np.full(size, -1, np.int32)
    area = signed_areas(points, triangles)
    order = np.arange(len(triangles)) if order is None else np.asarray(order)
    order = order[np.abs(area[order]) > 1e-9]  # degenerate triangles draw nothing
    fixed = np.round(points[triangles[order]] * 16).astype(np.int32)  # in drawing order
    for poly, t in zip(fixed, order.tolist()):
        cv2.fillConvexPoly(ids, poly, t, lineType=cv2.LINE_8, shift=4)
    return ids


#: Triangles thinner than this (pixels, across their longest edge) are slivers: the pixels
#: they cover are weighted along that edge instead of extrapolated across it.
SLIVER_HEIGHT = 0.5


def affine_coefficients(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle, the matrix that turns vertex values into a linear function of ``(x, y)``.

    Args:
        points: ``(N, 2)`` vertex positions in raster pixels.
        triangles: ``(T, 3)``.

    Returns:
        ``(T, 3, 3)`` ``float64`` ``M`` with barycentric ``lambda = M @ (x, y, 1)``;
        slivers (thinner than :data:`SLIVER_HEIGHT`) get weights along their longest edge
        (the pixel projected onto it).
    """
    # Closed-form inverse of [[x0 x1 x2], [y0 y1 y2], [1 1 1]] (adjugate over determinant):
    # a batched np.linalg.inv of ~1000 3x3 matrices costs ten times more.
    corners = np.asarray(points, np.float64)[triangles]  # (T, 3, 2)
    x, y = corners[..., 0], corners[..., 1]
    inv = np.empty((len(triangles), 3, 3))
    for row, (a, b) in enumerate(((1, 2), (2, 0), (0, 1))):
        inv[:, row, 0] = y[:, a] - y[:, b]
        inv[:, row, 1] = x[:, b] - x[:, a]
        inv[:, row, 2] = x[:, a] * y[:, b] - x[:, b] * y[:, a]
    det = inv[:, :, 2].sum(axis=1)  # twice the signed area
    edges = corners - np.roll(corners, 1, axis=1)  # edge k runs from corner k-1 to corner k
    lengths = np.linalg.norm(edges, axis=2)
    longest = lengths.argmax(axis=1)
    ok = np.abs(det) > SLIVER_HEIGHT * np.maximum(lengths.max(axis=1), 1e-9)  # height = 2 area / longest edge
    inv[ok] /= det[ok, None, None]
    # A sliver (a closed mouth's slit) still covers a pixel or two whose centres lie just
    # outside it, where barycentric weights grow as one over its height and sample far
    # away: there the pixel is projected onto the longest edge and weighted along it.
    inv[~ok] = 0.0
    for t in np.flatnonzero(~ok):
        k = longest[t]
        a, b = corners[t, k], corners[t, k - 1]  # the longest edge, from b to a
        d = a - b
        n2 = float(d @ d)
        if n2 < 1e-12:
            inv[t, :, 2] = 1.0 / 3.0
            continue
        along = np.array([d[0] / n2, d[1] / n2, -float(b @ d) / n2])  # 0 at b, 1 at a
        inv[t, k] = along
        inv[t, k - 1] = -along
        inv[t, k - 1, 2] += 1.0
    return inv


@dataclass(frozen=True, eq=False)
class TargetMesh:
    """The target face mesh (plus support band) rasterised once on a grid.

    Every field and mask of an edit is a per-vertex quantity interpolated linearly over
    these same triangles, so rasterisation is done once and reused.

    Attributes:
        grid: the working grid.
        points: ``(478 + L, 2)`` target vertices (landmarks, then ring) in working pixels.
        target: ``(478, 2)`` target landmarks in full-resolution pixels.
        ring: ``(L, 2)`` the support ring in full-resolution pixels.
        triangles: ``(T, 3)`` mesh triangles followed by the band's.
        ids: ``(h, w)`` ``int32`` covering triangle, ``-1`` outside the ring.
        barycentric: ``(T, 3, 3)`` from :func:`affine_coefficients`.
    """

    grid: Grid
    points: np.ndarray
    target: np.ndarray
    ring: np.ndarray
    triangles: np.ndarray
    ids: np.ndarray
    barycentric: np.ndarray

    def interpolate(self, values: np.ndarray, outside=0.0, face_only: bool = False,
                    triangles: np.ndarray | None = None,
                    window: tuple[slice, slice] | None = None) -> np.ndarray:
        """``(V, K)`` per-vertex values (V = vertices incl. ring) -> ``(h, w, K)`` ``float32``.

        Pixels no triangle covers take ``outside``. For quantities known to vanish
        elsewhere, ``face_only`` skips the support band and ``triangles`` (a ``(T,)``
        bool mask) restricts the work to those triangles' pixels; the rest take
        ``outside``. ``window`` (two slices with explicit bounds, as :meth:`window_of`
        gives) returns only that window of the grid: ``(wh, ww, K)``; triangles' pixels
        outside it are dropped.
        """
        h, w = self.ids.shape
        vals = np.asarray(values, np.float64)
        k = vals.shape[1]
        if triangles is None and not face_only:
            where, tri, xs, ys = self._covered
        else:
            wanted = np.ones(len(self.triangles), bool) if triangles is None else np.asarray(triangles, bool)
            if face_only:
                wanted = wanted & (np.arange(len(self.triangles)) < len(mesh.triangles()))
            where, tri, xs, ys = self._pixels_of(np.flatnonzero(wanted))
        # value = (V_t^T @ M_t) @ (x, y, 1): one (K, 3) matrix per triangle, laid out
        # (K, 3, T) so each coefficient is gathered per pixel as one flat array.
        coef = np.einsum("tik,tij->kjt", vals[self.triangles], self.barycentric).astype(np.float32)
        xs, ys = xs[:, 0], ys[:, 0]
        if window is not None:
            rows, cols = window
            wh, ww = rows.stop - rows.start, cols.stop - cols.start
            px, py = xs.astype(np.int64) - cols.start, ys.astype(np.int64) - rows.start
            inside = (px >= 0) & (px < ww) & (py >= 0) & (py < wh)
            tri, xs, ys, where = tri[inside], xs[inside], ys[inside], py[inside] * ww + px[inside]
            h, w = wh, ww
        out = np.empty((h * w, k), np.float32)
        out[...] = outside
        values_at = np.empty((len(tri), k), np.float32)
        for j in range(k):
            cx, cy, c0 = coef[j]
            v = np.take(cx, tri)
            v *= xs
            v += np.take(cy, tri) * ys
            v += np.take(c0, tri)
            values_at[:, j] = v
        out[where] = values_at
        return out.reshape(h, w, k)

    def window_of(self, triangles: np.ndarray, pad: int = 0) -> tuple[slice, slice]:
        """The grid window (two slices) covering the ``(T,)`` bool-masked triangles' pixels,
        grown by ``pad`` and clipped to the grid; empty slices when none are drawn."""
        h, w = self.ids.shape
        corners = self.points[self.triangles[np.asarray(triangles, bool)]].reshape(-1, 2)
        if corners.size == 0:
            return slice(0, 0), slice(0, 0)
        x0, y0 = np.floor(corners.min(axis=0)).astype(int) - pad
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + pad + 1
        return (slice(int(np.clip(y0, 0, h)), int(np.clip(y1, 0, h))),
                slice(int(np.clip(x0, 0, w)), int(np.clip(x1, 0, w))))

    def _pixels_of(self, chosen: np.ndarray):
        """``(where, tri, xs, ys)`` of the pixels drawn by triangles ``chosen`` (indices)."""
        where, tri, xs, ys = self._covered
        wanted = np.zeros(len(self.triangles), bool)
        wanted[chosen] = True
        keep = np.flatnonzero(wanted[tri])
        return where[keep], tri[keep], xs[keep], ys[keep]

    @cached_property
    def _covered(self):
        w = self.ids.shape[1]
        flat = self.ids.ravel()
        where = np.flatnonzero(flat >= 0)
        return (where, flat[where], (where % w).astype(np.float32)[:, None],
                (where // w).astype(np.float32)[:, None])

    def attribute(self, values: np.ndarray, outside: float = 0.0) -> np.ndarray:
        """Interpolate ``(478,)`` or ``(478, K)`` per-landmark values; the ring takes
        ``outside``. Returns ``(h, w)`` or ``(h, w, K)`` ``float32``."""
        vals = np.asarray(values, np.float64)
        squeeze = vals.ndim == 1
        vals = vals.reshape(len(vals), -1)[: mesh.N_LANDMARKS]
        extra = np.full((len(self.points) - len(vals), vals.shape[1]), outside)
        out = self.interpolate(np.concatenate([vals, extra]), outside)
        return out[..., 0] if squeeze else out

    def field(self, source: np.ndarray, source_ring: np.ndarray | None = None) -> np.ndarray:
        """Backward map onto source landmarks.

        Args:
            source: ``(478, 2)`` the same landmarks in the source image (full pixels).
            source_ring: the support ring in the source image; by default the target's,
                which makes the map exactly the identity on and outside the ring.

        Returns:
            ``(h, w, 2)`` ``float32`` source positions (full pixels) per working pixel.
        """
        ring = self.ring if source_ring is None else source_ring
        src = np.concatenate([source[: mesh.N_LANDMARKS, :2], ring]).astype(np.float64)
        # Interpolate displacements (small numbers) rather than positions, for precision.
        tgt = np.concatenate([self.target, self.ring])
        return self.grid.coords() + self.interpolate(src - tgt, 0.0)


def target_mesh(target: np.ndarray, grid: Grid, depth: np.ndarray | None = None) -> TargetMesh:
    """Rasterise target landmarks and their support band on a grid.

    Args:
        target: ``(478, 2)`` target landmark positions (full pixels).
        grid: the working grid.
        depth: optional ``(478,)`` target depth (larger farther) to order overlaps, so the
            visible side of a turned face wins.
    """
    surface = mesh.N_LANDMARKS
    tris = mesh.triangles()
    ring, band = support_band(target[:surface, :2])
    tgt_all = np.concatenate([target[:surface, :2], ring]).astype(np.float64)
    tri_all = np.concatenate([tris, band])
    order_depth = None
    if depth is not None:
        order_depth = np.concatenate([depth[:surface], np.full(len(ring), depth[:surface].max() + 1.0)])
    work = grid.to_work(tgt_all)
    groups = np.repeat([0, 1], [len(tris), len(band)])
    ids = rasterize(work, tri_all, grid.size, draw_order(work, tri_all, groups, order_depth))
    return TargetMesh(grid, work, np.asarray(target[:surface, :2], np.float64), ring, tri_all, ids,
                      affine_coefficients(work, tri_all))


def mesh_warp(source: np.ndarray, target: np.ndarray, grid: Grid,
              depth: np.ndarray | None = None) -> np.ndarray:
    """The backward map that moves ``source`` landmarks onto ``target`` landmarks.

    A shortcut for ``target_mesh(target, grid, depth).field(source)``: ``(h, w, 2)``
    ``float32``, the identity on and outside the support ring.
    """
    return target_mesh(target, grid, depth).field(source)


def compose(field: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``field(x + flow(x))``: follow a working-resolution flow, then the field.

    Args:
        field: ``(h, w, 2)`` backward map.
        flow: ``(h, w, 2)`` displacement in working pixels.
    """
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(field, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


#: One DIS optical-flow object per thread: OpenCV's is stateful and not thread-safe.
_local = threading.local()


def refinement_flow(fixed: np.ndarray, moving: np.ndarray, confidence: np.ndarray,
                    sigma: float) -> np.ndarray:
    """Residual alignment of two warped images, trusted only where they should agree.

    DIS optical flow (OpenCV) from ``fixed`` to ``moving`` is averaged with weights
    ``confidence`` by a Gaussian of width ``sigma`` (normalised convolution), which both
    removes flow noise and carries the correction smoothly into regions where the two
    images legitimately differ (an open mouth against a closed one); far from any
    confident pixel the correction fades to zero.

    Args:
        fixed, moving: ``(h, w)`` ``float32`` grey images in ``[0, 1]``, already
            illumination matched.
        confidence: ``(h, w)`` ``float32`` in ``[0, 1]``.
        sigma: smoothing width in working pixels.

    Returns:
        ``(h, w, 2)`` ``float32`` flow: ``fixed(x) ~ moving(x + flow(x))``.
    """
    dis = getattr(_local, "dis", None)
    if dis is None:
        dis = _local.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    h, w = fixed.shape
    # The correction is smoothed over `sigma` anyway: half resolution loses nothing.
    k = 2 if sigma >= 6 and min(h, w) >= 64 else 1
    size = (w // k, h // k)
    to8 = lambda a: np.clip(cv2.resize(a, size, interpolation=cv2.INTER_AREA) * 255 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    flow = dis.calc(to8(fixed), to8(moving), None)
    c = cv2.resize(confidence.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    # Ignore implausible vectors: a real residual is a few pixels.
    c = c * (np.linalg.norm(flow, axis=2) < 0.06 * max(size)).astype(np.float32)
    num = blur(flow * c[..., None], sigma / k)
    den = blur(c, sigma / k)
    prior = 0.02  # weight of "no correction" where confidence is scarce
    small = num / (den + prior)[..., None]
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(k)


def apply(image: np.ndarray, field: np.ndarray, grid: Grid,
          interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Warp a full-resolution image by a working-resolution backward field, once.

    Args:
        image: ``(H, W, C)`` source image (any dtype OpenCV remaps), full resolution.
        field: ``(h, w, 2)`` backward map on ``grid`` in full-resolution source pixels.
        grid: the grid ``field`` lives on.

    Returns:
        ``(Hc, Wc, C)`` the crop ``grid.full_size`` of the output, same dtype as ``image``.
    """
    disp = grid.upsample(field - grid.coords())
    full = grid.full_coords() + disp
    return cv2.remap(image, full[..., 0], full[..., 1], interpolation, borderMode=cv2.BORDER_REFLECT)


def jacobian_determinant(field: np.ndarray) -> np.ndarray:
    """``(h-1, w-1)`` determinant of a backward map's Jacobian (forward differences).

    Positive everywhere means the warp keeps orientation: no fold-over.
    """
    dx = field[:-1, 1:] - field[:-1, :-1]
    dy = field[1:, :-1] - field[:-1, :-1]
    return dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0]

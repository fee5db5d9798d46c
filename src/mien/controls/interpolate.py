"""Interpolation between two photos of the same person (seed 001, Algorithm 2).

Given photo ``A`` and photo ``B`` (two shots or two video frames of one person, the same
size), the in-between at ``t`` in ``[0, 1]`` is made in three steps:

1. **Geometry.** The expression is interpolated in the pose-free canonical frame
   (``(1 - t) * canonical_A + t * canonical_B``) and the head pose between A's and B's
   frames (scale log-linearly, rotation by slerp, translation linearly); the target
   landmarks are the interpolated expression placed at the interpolated pose.
2. **Two warps.** A is warped to that target (a :class:`~mien.scene.Scene` on A) and B is
   warped to it (a Scene on B), each with :func:`mien.render.plan` on one shared working
   grid; the fields are computed at working resolution and applied once, at full
   resolution (composed with the head carry, see below). A residual optical flow between the two
   warped faces, split ``t : 1 - t``, aligns what the landmarks missed (fewer double edges).
3. **Confidence blend.** Each warp gets a per-pixel confidence from its stretching (the
   Jacobian determinant of its backward map: a pixel magnified from a small source area,
   such as a closed mouth opened, is trusted less) and its occlusion (how squarely the
   source surface faces the camera: the far side of a turned head is trusted less). The
   blend weight of B is ``t * c_B / ((1 - t) * c_A + t * c_B)`` (seed 001's normalised
   ``exp(M)`` masks with ``M = log(weight * confidence)``): a pixel seen well in A and badly
   in B comes from A.

Output canvas (documented choice): the in-between has A's canvas (A and B must have the
same size: two shots from one camera, or two frames of one video). Each photo is first
*carried* by the 2D similarity that takes its face to the in-between's position (fitted on
the stable landmarks): the whole head, hair, ears and neck move with it out to
:data:`CARRY_INNER` (1.2) face widths from the in-between face's centre, fading smoothly to
no motion at :data:`CARRY_OUTER` (2.5). The face mesh warp runs on top of that carry, and
each photo is resampled once (cubic) at full resolution with the composed map. The blend
weight of B is ``t`` off the face, so beyond the carry (background, shoulders) A and B are
plainly cross-faded where they are. Weak points: a camera that moved between the shots
shows beyond the carry as a cross-fade of the two backgrounds (shoulders ghost faintly);
with a still camera and a moving head, the background within the carry is dragged a
little with the head.

``t = 0`` returns A's pixels and ``t = 1`` B's pixels, bit-identical.

Public names: :func:`interpolate` (arrays), :class:`Interpolator` (analyse once, render
many ``t``), :func:`interpolate_files` (files in, photo / PNG sequence / MP4 / animated
WebP or GIF out), :class:`Interpolation` (the control: a Scene source), :func:`between`
(the in-between geometry).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from .. import mesh
from .. import render as renderer
from ..errors import InputError
from ..expression import Frame
from ..image import from_float, to_float
from ..scene import Scene
from ..warp import Grid, grid_around, jacobian_determinant, refinement_flow

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: Confidence never drops below this (so a pixel both warps see badly is still blended).
MIN_CONFIDENCE = 0.02
#: Smoothing of the confidence maps, as a fraction of the face width in working pixels
#: (the Jacobian is constant per triangle; an unsmoothed mask would show the mesh).
CONFIDENCE_BLUR = 1 / 60
#: Width of the residual-flow smoothing, as a fraction of the face width (working px).
FLOW_SIGMA = 1 / 25


def check_t(t: float, name: str = "t") -> float:
    """``t`` as a float in ``[0, 1]``, or :class:`InputError`."""
    try:
        value = float(t)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number between 0 and 1, got {t!r}", param=name, allowed="[0, 1]") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be between 0 (photo A) and 1 (photo B), got {t!r}",
                         param=name, allowed="[0, 1]")
    return value


def _slerp(r0: np.ndarray, r1: np.ndarray, t: float) -> np.ndarray:
    """``(3, 3)`` rotation a fraction ``t`` of the way from ``r0`` to ``r1`` (geodesic)."""
    rel = r0.T @ r1
    angle = math.acos(float(np.clip((np.trace(rel) - 1.0) / 2.0, -1.0, 1.0)))
    if angle < 1e-9:
        return r0.copy()
    w = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
    norm = np.linalg.norm(w)
    if norm < 1e-12:  # angle ~ pi: fall back to a matrix average projected to a rotation
        u, _, vt = np.linalg.svd((1 - t) * r0 + t * r1)
        return u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt
    k = w / norm
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    a = t * angle
    step = np.eye(3) + math.sin(a) * kx + (1 - math.cos(a)) * kx @ kx
    return r0 @ step


def between_frame(fa: Frame, fb: Frame, t: float) -> Frame:
    """The head pose a fraction ``t`` from ``fa`` to ``fb``: scale log-linear, rotation by
    slerp, translation linear."""
    scale = math.exp((1 - t) * math.log(fa.scale) + t * math.log(fb.scale))
    return Frame(scale, _slerp(np.asarray(fa.rotation, np.float64), np.asarray(fb.rotation, np.float64), t),
                 (1 - t) * np.asarray(fa.translation, np.float64) + t * np.asarray(fb.translation, np.float64))


def between(a, b, t: float) -> np.ndarray:
    """``(478, 3)`` ``float64`` in-between landmarks (pixels of the shared canvas).

    Args:
        a, b: :class:`mien.session.FaceState` of the same person in A and in B.
        t: ``0`` gives A's landmarks, ``1`` B's.
    """
    if t == 0.0:
        return np.asarray(a.face.landmarks, np.float64).copy()
    if t == 1.0:
        return np.asarray(b.face.landmarks, np.float64).copy()
    canonical = (1 - t) * a.canonical + t * b.canonical
    return between_frame(a.frame, b.frame, t).to_image(canonical)


@dataclass(frozen=True, eq=False)
class Interpolation:
    """The interpolation control as a plain Scene source (``scene(state)``).

    ``scene(a)`` is A's face moved to the in-between geometry at ``t`` with A's own
    texture only (no head carry, no blend with B): for "a little less of B's smile" on
    one photo through :meth:`mien.session.Session.render`. :class:`Interpolator` makes
    the full two-photo in-between.

    Attributes:
        a, b: the two :class:`~mien.session.FaceState` (same person, same canvas size).
        t: in ``[0, 1]``.
    """

    a: object
    b: object
    t: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", check_t(self.t))

    def target(self) -> np.ndarray:
        return between(self.a, self.b, self.t)

    def scene(self, state) -> Scene:
        return Scene(state.face, self.target())


@dataclass(frozen=True, eq=False)
class Blend:
    """What an in-between is made of, at working resolution (for inspection and tests).

    Attributes:
        grid: the shared working grid.
        target: ``(478, 3)`` in-between landmarks.
        alpha: ``(h, w)`` ``float32`` weight of B's warp in the blend.
        confidence_a, confidence_b: ``(h, w)`` ``float32`` in ``(0, 1]``.
    """

    grid: Grid
    target: np.ndarray
    alpha: np.ndarray
    confidence_a: np.ndarray
    confidence_b: np.ndarray


def _stretch(field: np.ndarray, grid: Grid) -> np.ndarray:
    """``(h, w)`` how much source area one output pixel samples, relative to 1, clipped to
    ``[0, 1]`` (1: no magnification; 0: folded or collapsed)."""
    sy, sx = grid.ratio
    j = jacobian_determinant(field.astype(np.float64)) / (sx * sy)
    j = np.pad(j, ((0, 1), (0, 1)), mode="edge")
    return np.clip(j, 0.0, 1.0).astype(np.float32)


def _confidence(face, p: renderer.Plan, face_work: float) -> np.ndarray:
    """``(h, w)`` ``float32`` confidence of one warp: stretching times visibility.

    The stretch is measured relative to the head carry (a photo whose face is simply
    larger is not preferred: the weight must meet ``t`` smoothly off the face)."""
    vis = renderer.visibility(face)
    n_ring = len(p.mesh.ring)
    per_vertex = np.concatenate([vis, np.ones(n_ring)])[:, None]
    visible = p.mesh.interpolate(per_vertex, outside=1.0)[..., 0]
    c = _stretch(p.map, p.grid) * np.clip(visible, 0.0, 1.0)
    sigma = max(0.7, face_work * CONFIDENCE_BLUR)
    c = cv2.GaussianBlur(c.astype(np.float32), (0, 0), sigma)
    return np.clip(c, MIN_CONFIDENCE, 1.0)


#: The head carry: the whole head (hair, ears, neck) moves with the face's similarity out
#: to CARRY_INNER face widths from the in-between face's centre, fading to no motion at
#: CARRY_OUTER; beyond, A and B are cross-faded where they are.
CARRY_INNER = 1.2
CARRY_OUTER = 2.5


@dataclass(frozen=True, eq=False)
class _Carry:
    """The 2D similarity that carries one photo's head to the in-between's position.

    Backward: an in-between position ``x`` (pixels) samples the photo at
    ``scale * rotation @ x + shift`` near the face, at ``x`` far from it, and between
    the two with a smooth weight (:data:`CARRY_INNER`, :data:`CARRY_OUTER`).
    """

    scale: float
    rotation: np.ndarray
    shift: np.ndarray
    centre: np.ndarray
    width: float

    @classmethod
    def of(cls, state, target: np.ndarray) -> "_Carry":
        from ..geometry import similarity

        idx = list(mesh.STABLE)
        s, rot, shift = similarity(target[idx, :2], np.asarray(state.face.points, np.float64)[idx])
        oval = target[list(mesh.FACE_OVAL), :2]
        return cls(s, rot, shift, oval.mean(axis=0), float(max(np.ptp(oval[:, 0]), 1.0)))

    def virtual(self, face):
        """``face`` as it sits in the photo carried to the in-between position."""
        lm = np.asarray(face.landmarks, np.float64)
        xy = (lm[:, :2] - self.shift) @ self.rotation / self.scale
        out = np.concatenate([xy, lm[:, 2:3] / self.scale], axis=1).astype(face.landmarks.dtype)
        return dataclasses.replace(face, landmarks=out)

    def map(self, positions: np.ndarray) -> np.ndarray:
        """``(..., 2)`` ``float32`` photo positions for in-between positions ``(..., 2)``."""
        p = positions.astype(np.float32)
        r = np.hypot(p[..., 0] - np.float32(self.centre[0]), p[..., 1] - np.float32(self.centre[1]))
        u = np.clip((r / np.float32(self.width) - CARRY_INNER) / (CARRY_OUTER - CARRY_INNER), 0, 1)
        w = 1 - u * u * (3 - 2 * u)
        m = (np.float32(self.scale) * self.rotation).astype(np.float32)
        moved = p @ m.T + self.shift.astype(np.float32)
        return p + w[..., None] * (moved - p)

    def working_pixels(self, pixels: np.ndarray, grid: Grid, pad: float = 0.3) -> np.ndarray:
        """The photo carried to the in-between position over ``grid``'s crop (grown by
        ``pad``), at full resolution; zero elsewhere (only the crop is sampled by the plan)."""
        h, w = pixels.shape[:2]
        ch, cw = grid.full_size
        x0, y0 = max(0, int(grid.x0 - pad * cw)), max(0, int(grid.y0 - pad * ch))
        x1, y1 = min(w, int(grid.x0 + (1 + pad) * cw) + 1), min(h, int(grid.y0 + (1 + pad) * ch) + 1)
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        src = self.map(np.stack([gx, gy], axis=-1))
        out = np.zeros_like(pixels)
        out[y0:y1, x0:x1] = cv2.remap(pixels, src[..., 0], src[..., 1], cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT)
        return out


@dataclass(frozen=True, eq=False)
class _Side:
    """One photo's warp to the in-between: the head carry, then the face plan."""

    carry: _Carry
    plan: renderer.Plan

    def positions(self, size: tuple[int, int]) -> np.ndarray:
        """``(H, W, 2)`` ``float32`` photo positions of every in-between pixel."""
        h, w = size
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        pos = np.stack([gx, gy], axis=-1)
        g = self.plan.grid
        crop = pos[g.y0:g.y0 + g.full_size[0], g.x0:g.x0 + g.full_size[1]]
        crop += g.upsample((self.plan.map - g.coords()).astype(np.float32))
        return self.carry.map(pos)

    def execute(self, pixels: np.ndarray) -> np.ndarray:
        """The photo warped to the in-between, resampled once (cubic) at full resolution;
        pixels no motion reaches are copied bit-identical."""
        pos = self.positions(pixels.shape[:2])
        out = cv2.remap(pixels, pos[..., 0], pos[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        h, w = pixels.shape[:2]
        still = (pos[..., 0] == np.arange(w, dtype=np.float32)) & (pos[..., 1] == np.arange(h, dtype=np.float32)[:, None])
        np.copyto(out, pixels, where=still[..., None])
        return out


class Interpolator:
    """Two photos of one person, analysed once; any number of in-betweens.

    Args:
        a, b: ``(H, W, 3)`` ``uint8``/``uint16`` RGB arrays, :class:`mien.io.Photo`, or
            :class:`mien.session.Session` (same size, same dtype).
        face: which face (number from the left) in each photo; faces are the largest by
            default.
        force: interpolate even if the faces look like different people.
        align: refine the two warps against each other with optical flow.
        progress: called with a short stage description.

    Raises:
        InputError: different sizes or dtypes.
        NoFaceError: no face in a photo.
        FaceMismatchError: the faces look like different people (unless ``force``).
    """

    def __init__(self, a, b, *, face: int | None = None, force: bool = False, align: bool = True,
                 progress: Progress | None = None) -> None:
        from ..session import Session

        say = progress or (lambda _m: None)
        self.sa = a if isinstance(a, Session) else Session(a, name="photo A", progress=say)
        self.sb = b if isinstance(b, Session) else Session(b, name="photo B", progress=say)
        pa, pb = self.sa.pixels, self.sb.pixels
        if pa.shape != pb.shape:
            raise InputError(
                f"photo A is {pa.shape[1]}x{pa.shape[0]} and photo B {pb.shape[1]}x{pb.shape[0]}: "
                "interpolation needs two photos of the same size (resize or crop one first)", param="b")
        if pa.dtype != pb.dtype:
            raise InputError(f"photo A is {pa.dtype} and photo B {pb.dtype}: give both at the same bit depth",
                             param="b")
        self.a = self._pick(self.sa, face, "photo A")
        self.b = self._pick(self.sb, face, "photo B")
        self.distance = None
        if not force:
            say("checking that both photos show the same person")
            self.distance = self.a.check_same_person(self.b, "photo B")
        self.align = align

    @staticmethod
    def _pick(session, face, what):
        from ..errors import NoFaceError

        if not session.faces:
            raise NoFaceError(f"no face found in {what}", param=what)
        if face is None:
            return session.largest()
        return session.choose(face)[0]

    def blend(self, t: float) -> tuple[Blend, "_Side", "_Side"]:
        """The working-resolution parts of the in-between at ``t`` (``0 < t < 1``)."""
        t = check_t(t)
        a, b = self.a, self.b
        target = between(a, b, t)
        ca, cb = _Carry.of(a, target), _Carry.of(b, target)
        va, vb = ca.virtual(a.face), cb.virtual(b.face)
        ovals = np.concatenate([pts[list(mesh.FACE_OVAL), :2] for pts in (va.points, vb.points, target)])
        grid = grid_around(ovals, a.face.image_size, renderer.WORK_FACE_PX)
        pa = renderer.plan(ca.working_pixels(a.pixels, grid), Scene(va, target), grid=grid)
        pb = renderer.plan(cb.working_pixels(b.pixels, grid), Scene(vb, target), grid=grid)
        sy, sx = grid.ratio
        face_work = float(np.ptp(target[list(mesh.FACE_OVAL), 0])) / max(sx, sy)
        if self.align:
            pa, pb = self._aligned(pa, pb, t, face_work)
        conf_a = _confidence(va, pa, face_work)
        conf_b = _confidence(vb, pb, face_work)
        wa, wb = (1 - t) * conf_a, t * conf_b
        alpha = (wb / (wa + wb)).astype(np.float32)
        return Blend(grid, target, alpha, conf_a, conf_b), _Side(ca, pa), _Side(cb, pb)

    @staticmethod
    def _aligned(pa, pb, t, face_work):
        """Split the residual flow between the two warped faces ``t : 1 - t``."""
        grey = lambda img: cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2GRAY)  # noqa: E731
        # Low-frequency light differences would read as motion: compare local contrast.
        sigma = max(1.0, face_work / 16)
        ga, gb = grey(pa.preview), grey(pb.preview)
        ga = np.clip(0.5 + ga - cv2.GaussianBlur(ga, (0, 0), sigma), 0, 1)
        gb = np.clip(0.5 + gb - cv2.GaussianBlur(gb, (0, 0), sigma), 0, 1)
        inside = pa.mesh.interpolate(np.ones((len(pa.mesh.points), 1)), face_only=True)[..., 0]
        flow = refinement_flow(ga, gb, inside.astype(np.float32), sigma=max(1.0, face_work * FLOW_SIGMA))
        # gb(x + flow) ~ ga(x): A's content at x sits at x + flow in B's warp. The middle
        # image samples A at x - t*flow and B at x + (1 - t)*flow.
        from ..warp import compose

        ma = compose(pa.map, (-t * flow).astype(np.float32))
        mb = compose(pb.map, ((1 - t) * flow).astype(np.float32))
        return dataclasses.replace(pa, map=ma), dataclasses.replace(pb, map=mb)

    def __call__(self, t: float) -> np.ndarray:
        """``(H, W, 3)`` the in-between at ``t``, A's dtype; ``t`` 0 and 1 give A and B
        bit-identical."""
        t = check_t(t)
        if t == 0.0:
            return self.sa.pixels.copy()
        if t == 1.0:
            return self.sb.pixels.copy()
        bl, sa, sb = self.blend(t)
        wa = sa.execute(self.sa.pixels)
        wb = sb.execute(self.sb.pixels)
        g = bl.grid
        h, w = self.sa.pixels.shape[:2]
        alpha = np.full((h, w), t, np.float32)
        alpha[g.y0:g.y0 + g.full_size[0], g.x0:g.x0 + g.full_size[1]] = g.upsample(bl.alpha)
        fa, fb = to_float(wa), to_float(wb)
        out = fa + alpha[..., None] * (fb - fa)
        return from_float(out, self.sa.pixels.dtype)

    def frames(self, count: int) -> Iterable[np.ndarray]:
        """``count`` (>= 2) in-betweens at evenly spaced ``t`` from 0 to 1 inclusive."""
        if int(count) != count or count < 2:
            raise InputError(f"frames must be a whole number of at least 2, got {count!r}", param="frames",
                             allowed=">= 2")
        for t in np.linspace(0.0, 1.0, int(count)):
            yield self(float(t))


def interpolate(a, b, t: float, *, face: int | None = None, force: bool = False,
                progress: Progress | None = None) -> np.ndarray:
    """The in-between of two photos of one person at ``t``.

    Args:
        a, b: ``(H, W, 3)`` ``uint8``/``uint16`` RGB arrays of the same size (or Sessions).
        t: ``0`` returns A's pixels, ``1`` B's (bit-identical); ``0.3`` is 30 % of the way
            to B in expression, head pose and texture.
        face: face number from the left (default: the largest in each).
        force: interpolate even if the faces look like different people.

    Returns:
        ``(H, W, 3)`` array of A's dtype.
    """
    t = check_t(t)
    return Interpolator(a, b, face=face, force=force, progress=progress)(t)


# ---------------------------------------------------------------- files

ANIMATED = (".webp", ".gif")
VIDEOS = (".mp4", ".mov", ".m4v", ".mkv", ".webm")


def _sequence_paths(out: Path, count: int) -> list[Path]:
    """PNG paths for a sequence: ``out`` a folder (``frame_0000.png`` ...) or a pattern
    with ``%d``/``%04d`` or ``{}``/``{:04d}``."""
    text = str(out)
    if "%" in text:
        return [Path(text % i) for i in range(count)]
    if "{" in text:
        return [Path(text.format(i)) for i in range(count)]
    return [out / f"frame_{i:04d}.png" for i in range(count)]


def write_animation(frames: Sequence[np.ndarray], out: Path, fps: float, *, loop: bool = True) -> Path:
    """Write ``frames`` (``(H, W, 3)`` ``uint8``) as an animated WebP or GIF with Pillow."""
    from PIL import Image

    frames = list(frames)
    images = []
    while frames:  # each array is let go once Pillow has its copy
        images.append(Image.fromarray(np.ascontiguousarray(frames.pop(0))))
    ms = max(1, round(1000.0 / fps))
    kwargs = dict(save_all=True, append_images=images[1:], duration=ms, loop=0 if loop else 1)
    if out.suffix.lower() == ".webp":
        kwargs.update(quality=90, method=4)
    else:
        kwargs.update(optimize=False, disposal=1)
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=out.suffix, dir=out.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a written file should not be
    try:
        images[0].save(tmp, **kwargs)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _write_video(frames: Iterable[np.ndarray], count: int, size: tuple[int, int], out: Path, fps: float,
                 protect: list[Path]) -> Path:
    """Encode ``count`` frames (``(H, W, 3)`` ``uint8``, ``size`` = ``(H, W)``) as they come."""
    from fractions import Fraction

    from ..io.video import VideoFrame, VideoInfo, VideoWriter

    h, w = size
    h2, w2 = (h // 2) * 2, (w // 2) * 2  # whole chroma samples
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(1, 90000)
    step = int(round(90000 / rate))
    info = VideoInfo(path=protect[0], width=w2, height=h2, fps=rate, frames=count,
                     duration=count / float(rate), rotation=0, has_audio=False, codec="h264",
                     time_base=time_base, coded_width=w2, coded_height=h2, pix_fmt="yuv420p",
                     colorspace=1, color_primaries=1, color_trc=1, color_range=1)
    with VideoWriter(out, info, audio=False, protect=protect) as writer:
        for i, f in enumerate(frames):
            px = np.ascontiguousarray(f[:h2, :w2])
            writer.write(px, VideoFrame(i, i * step / 90000, px, i * step, time_base, step))
    return out


#: Most frames a sequence may have (10 minutes at 24 frames/s).
MAX_FRAMES = 14_400
#: Largest animated WebP/GIF, in bytes of 8-bit frames. Pillow holds every frame to write
#: one, and its images are copies of the arrays: the peak is about twice this.
MAX_ANIMATION_BYTES = 1 << 30


def interpolate_files(a: str | Path, b: str | Path, out: str | Path, *, at: float | None = None,
                      frames: int | None = None, fps: float = 24.0, face: int | None = None,
                      force: bool = False, progress: Progress | None = None,
                      frame_done: Callable[[int, int], None] | None = None) -> Path:
    """Interpolate two photo files and write the result.

    ``at`` writes one photo (``out`` an image file). Otherwise ``frames`` (default 24)
    evenly spaced in-betweens from A to B are written as: an animated WebP/GIF (``out``
    ends in .webp/.gif; loops), a video (.mp4 .mov .m4v .mkv .webm), or a PNG sequence
    (``out`` a folder, or a pattern such as ``frames/f_%04d.png``).

    Returns:
        ``out``.
    """
    from ..image import to_uint8
    from ..io import check_output_path, read_photo, write_photo
    from ..io.photo import check_writable

    a, b, out = Path(a), Path(b), Path(out)
    if at is not None and frames is not None:
        raise InputError("give either --at (one photo) or --frames (a sequence), not both", param="at")
    if at is not None:
        at = check_t(at, "at")
    try:
        fps_ok = math.isfinite(float(fps)) and 0 < float(fps) <= 240
    except (TypeError, ValueError):
        fps_ok = False
    if not fps_ok:
        raise InputError(f"fps must be between 0 and 240, got {fps!r}", param="fps", allowed="(0, 240]")
    count = 24 if frames is None else frames
    if at is None and (int(count) != count or count < 2):
        raise InputError(f"frames must be a whole number of at least 2, got {count!r}", param="frames",
                         allowed=">= 2")
    count = int(count)
    if at is None and count > MAX_FRAMES:
        raise InputError(f"frames must be at most {MAX_FRAMES}, got {count}", param="frames",
                         allowed=f"2 to {MAX_FRAMES}")
    suffix = out.suffix.lower()
    pattern = "%" in str(out) or "{" in str(out)
    # Validate the output before any work.
    if at is not None:
        check_output_path(out, [a, b])
    elif suffix in ANIMATED:
        check_writable(out, [a, b], "morph.webp")
    elif suffix in VIDEOS:
        from ..io.video import check_video_output_path

        check_video_output_path(out, [a, b])
    elif pattern:
        for path in _sequence_paths(out, count)[:1]:
            check_output_path(path, [a, b])
    elif suffix:
        raise InputError(f"cannot write a sequence to {out.name}: use .webp, .gif, .mp4, a folder or a "
                         "pattern like frames/f_%04d.png (or --at for one photo)", param="out")
    elif not out.parent.is_dir():
        raise InputError(f"{out.parent}: folder does not exist; create it or choose another -o", param="out")
    photo_a = read_photo(a)
    photo_b = read_photo(b)
    engine = Interpolator(photo_a, photo_b, face=face, force=force, progress=progress)
    if at is not None:
        write_photo(out, engine(at), photo_a, protect=[a, b])
        return out
    h, w = photo_a.pixels.shape[:2]
    if suffix in ANIMATED and count * h * w * 3 > MAX_ANIMATION_BYTES:
        most = max(2, MAX_ANIMATION_BYTES // (h * w * 3))
        raise InputError(f"{count} frames of {w}x{h} are too many for an animated {suffix[1:].upper()} (at most "
                         f"{most}); write .mp4 or a PNG sequence, or use fewer --frames", param="frames")

    def rendered() -> Iterator[np.ndarray]:
        # Frames go to the writer as they are made: only an animated WebP/GIF holds them all.
        for i, img in enumerate(engine.frames(count)):
            yield img
            if frame_done is not None:
                frame_done(i + 1, count)

    if suffix in ANIMATED:
        return write_animation([to_uint8(f) for f in rendered()], out, fps)
    if suffix in VIDEOS:
        return _write_video((to_uint8(f) for f in rendered()), count, (h, w), out, fps, [a, b])
    if not pattern:
        out.mkdir(exist_ok=True)
    # Each PNG is written atomically as it is made; an interrupted run leaves the frames
    # made so far (a rerun writes them all again).
    paths = _sequence_paths(out, count)
    for i, img in enumerate(rendered()):
        write_photo(paths[i], img, protect=[a, b])
    return out

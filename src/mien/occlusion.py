"""Per-frame occlusion of a tracked face: is something (a hand, an object) in front of it?

A video edit must not paint over a hand held to the face; frames scored occluded are passed
through unchanged. :func:`occlusion` scores one frame from three cues, each turned into an
evidence in ``[0, 1]`` and combined by a noisy-OR (``1 - prod(1 - p)``), plus hysteresis.
Each cue alone is set so that it stays below 0.5 on every clear frame and photo measured
(talking and man clips, 62 London people smiling against their neutral reference):

``flag``
    MediaPipe's face-presence ("face flag") logit. mien's mesh comes from the legacy face
    mesh graph, which does not expose it, so the plain ``face_landmark.tflite`` bundled with
    mediapipe 0.10.21 (the attention model needs custom ops ai-edge-litert lacks) is run
    once more on a 192-pixel crop aligned the way MediaPipe's tracker aligns it (the
    landmarks' box turned level with the eyes, 1.5x): ~1 ms CPU; its landmarks lie within
    ~0.02 inter-ocular distances (median) of mien's. A clear face scores a logit of ~18-33
    depending on the person, light and expression; a hand over the face drops it by ~5-20.
    With a reference the evidence is the drop below the track's own clear-frame level; with
    none, the drop below a generic 28 (weak: clear London faces go down to 18).
``lips``
    The lips' redness against the skin around them (Lab ``a*``), the lower of the two
    mouth halves, as a share of the track's own clear-frame value: a hand or an object over
    either half takes the lips' colour away. Skin alone cannot tell a hand from a cheek;
    the lips are the one part of the lower face whose colour skin does not have. A broad
    smile thins and pales the lips to ~half their contrast, so evidence starts below half.
    Without a reference (and as a floor with one), the contrast is judged against the
    skin's own colourfulness: lips hardly redder than the skin (< 0.1 of its chroma; clear
    faces here >= 0.09, median 0.55) count as hidden. Grey video: only lips less red than
    the skin count.
``area``
    The lower face warped to the canonical face (a 48 x 56 template sampled through the
    mesh's triangles, :func:`template`) against the track's running per-pixel Lab mean and
    spread, colour taken relative to the frame's median skin colour: the share of pixels
    far outside it. Dark, coloured or differently lit objects show here; a hand of the
    face's own colour mostly does not.
``edges``
    New edges: the template's L* edge strength (Sobel) against the track's running mean and
    spread, the largest share of pixels far above it in a cell of a 3 x 3 grid over the skin
    below the brows (eyes, brows and lips left out: they make and lose edges as they move;
    the forehead too: hair). Fingers, their gaps and their shadows bring edges where the
    track's face has none, even when the hand is the face's own colour.
``previous``
    Hysteresis: evidence :data:`_STICKY` when the track's previous frame scored occluded (a
    hand stays a while; its partly covering frames should not flicker the edit on and off).

The track's reference (:class:`FaceAppearance`) is learned only from frames the caller
judged clear, with limits on drift (see its docstring). Before it has
:data:`MIN_REFERENCE_FRAMES` frames only the generic cues count (lips hardly redder than
the skin, a low face flag): a track that *starts* with a hand on the face is caught while
the hand covers the lips, and may learn a hand that covers only a cheek or an eye.

Cost (benchmarks/occlusion.py): ~2-3 ms CPU per frame at 640x360 (score and update), of
which ~1 ms the landmark network and ~0.4 ms the template.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from functools import lru_cache
from importlib import util as import_util
from pathlib import Path

import cv2
import numpy as np

from . import mesh
from .errors import InputError
from .face import Face
from .image import as_rgb, to_uint8

log = logging.getLogger(__name__)

#: Scores at or above this mean "occluded: pass the frame through".
OCCLUDED = 0.5

#: Frames the reference needs before its cues are used.
MIN_REFERENCE_FRAMES = 3

#: Canonical template size (width, height) in pixels.
TEMPLATE_SIZE = (48, 56)

# Face-flag cue: evidence ramps from 0 at a drop of _FLAG_RAMP[0] to 1 at _FLAG_RAMP[1]
# below the reference logit; without a reference the generic logit and a wider ramp
# (clear London faces scored 18-33 at video size, median 28).
_FLAG_RAMP = (5.0, 13.0)
_FLAG_GENERIC = 28.0
_FLAG_RAMP_GENERIC = (10.0, 20.0)
# Lips cue: evidence 0 at LIP_RAMP[0] of the reference contrast, 1 at LIP_RAMP[1]; the cue
# is off when the reference lips are hardly redder than skin (grey or washed-out video).
_LIP_RAMP = (0.5, 0.15)
_LIP_MIN_CONTRAST = 1.0
# Generic lips cue, without a reference: the lower half's contrast divided by the skin's
# chroma. Clear: talking clip >= 0.25, man clip >= 0.16, London 1st percentile 0.09 (pale
# lips), median 0.55; a hand over the mouth (talking clip) median 0.04.
_LIP_RAMP_GENERIC = (0.10, 0.0)
_SKIN_MIN_CHROMA = 4.0
# Area cue: a pixel is anomalous beyond _AREA_Z spreads; evidence ramps over the share of
# anomalous lower-face pixels. Spread floors (L*, a*, b*) keep a still reference tolerant.
_AREA_Z = 4.0
_AREA_RAMP = (0.10, 0.30)
# Edges cue: a pixel's edge strength beyond _EDGE_Z spreads above the reference's; evidence
# ramps over the largest share of such pixels in a cell of the face's skin (talking clip
# as the pipeline runs it: clear frames at most 0.19, hand frames median 0.35; a London
# smile against its neutral reference below 0.15).
_EDGE_Z = 3.0
_EDGE_RAMP = (0.15, 0.40)
# Spread floors of the template channels (L*, a*, b*, edge strength).
_FLOORS = np.array([4.0, 2.0, 2.0, 1.5], np.float32)
# Running reference: first frames averaged, then exponential forgetting. The flag
# reference is the _FLAG_QUANTILE percentile of the last _HISTORY clear frames; a new
# value enters at most _FLAG_STEP below it, a lip contrast at least _LIP_STEP of it.
_EMA = 0.05
_HISTORY = 90
_FLAG_QUANTILE = 75
_FLAG_STEP = 4.0
_LIP_STEP = 0.6
# A frame flagged by the template alone (flag and lips evidence below _CREEP_CALM) still
# teaches the template reference, at _CREEP a frame: a lasting change of light is learned
# in a few seconds instead of passing the rest of the clip through.
_CREEP = 0.01
_CREEP_CALM = 0.2
# Hysteresis: evidence added when the track's previous frame scored occluded (a hand
# stays a while; leaving needs the other cues below 1 - (1 - 0.5) / (1 - _STICKY)).
_STICKY = 0.25

_LANDMARK_MODEL = "modules/face_landmark/face_landmark.tflite"
_CROP = 192
_ROI_SCALE = 1.5


# --------------------------------------------------------------------------- canonical template

@lru_cache(maxsize=1)
def _template_geometry():
    """Sampling of the canonical face: per template pixel a mesh triangle and barycentrics.

    Returns:
        ``(tri, bary, masks)``: ``(N, 3)`` ``int32`` landmark indices, ``(N, 3)``
        ``float64`` weights (``N = W * H``, row-major), and a dict of ``(H, W)`` bool masks
        (``valid``, ``skin``, ``lower``, ``lip_left``, ``lip_right``, ``ring_left``,
        ``ring_right``, ``inner``).
    """
    w, h = TEMPLATE_SIZE
    verts, tris = mesh.canonical()
    uv = np.stack([verts[:, 0], -verts[:, 1]], 1).astype(np.float64)  # image-like: x right, y down
    oval = uv[list(mesh.FACE_OVAL)]
    lo, hi = oval.min(0), oval.max(0)
    gx = lo[0] + (np.arange(w) + 0.5) / w * (hi[0] - lo[0])
    gy = lo[1] + (np.arange(h) + 0.5) / h * (hi[1] - lo[1])
    gxx, gyy = np.meshgrid(gx, gy)
    pts = np.stack([gxx.ravel(), gyy.ravel()], 1)
    tri_of = np.full(len(pts), -1)
    bary = np.zeros((len(pts), 3))
    for t, (a, b, c) in enumerate(tris):
        m = np.array([uv[b] - uv[a], uv[c] - uv[a]]).T
        if abs(np.linalg.det(m)) < 1e-12:
            continue
        lam = np.linalg.solve(m, (pts - uv[a]).T).T
        wts = np.stack([1 - lam.sum(1), lam[:, 0], lam[:, 1]], 1)
        inside = (wts >= -1e-9).all(1) & (tri_of < 0)
        tri_of[inside] = t
        bary[inside] = wts[inside]
    valid = (tri_of >= 0).reshape(h, w)

    def to_template(idx):
        return ((uv[list(idx)] - lo) / (hi - lo) * np.array([w, h]) - 0.5).astype(np.float32)

    def polygon(idx, hull=False):
        p = to_template(idx)
        if hull:
            p = cv2.convexHull(p)[:, 0]
        big = np.zeros((h * 8, w * 8), np.uint8)
        cv2.fillPoly(big, [np.round((p + 0.5) * 8 - 0.5).astype(np.int32)], 1)
        return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA) > 0.5

    lips = polygon(mesh.LIPS_OUTER)
    inner = polygon(mesh.LIPS_INNER)
    eyes = polygon(mesh.LEFT_EYE) | polygon(mesh.RIGHT_EYE)
    brows = polygon(mesh.LEFT_BROW, True) | polygon(mesh.RIGHT_BROW, True)
    skin = valid & ~lips & ~eyes & ~brows
    nose_tip_y = to_template([1])[0, 1]
    brow_y = to_template(mesh.LEFT_BROW + mesh.RIGHT_BROW)[:, 1].mean()
    eye_y = to_template(mesh.EYE_OUTER_CORNERS)[:, 1].mean()
    lower = valid & ~inner & ~eyes & ~brows
    lower[: int(np.ceil((eye_y + nose_tip_y) / 2))] = False  # below mid-nose-bridge
    ring = (cv2.dilate(lips.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & ~lips & valid
    band = lips & ~inner
    mid = to_template([0, 17])[:, 0].mean()  # lips' middle column
    cols = np.arange(w)[None, :]
    masks = {
        "valid": valid, "skin": skin, "lower": lower, "inner": inner,
        # where new edges count: skin below the brows (not the forehead, where hair comes
        # and goes), away from the eyes, brows and lips, which make and lose edges as they
        # move (blinks, eyes opening, speech)
        "edges": skin & ~(cv2.dilate((eyes | brows | lips).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
        & (np.arange(h)[:, None] > brow_y),
        "lip_left": band & (cols < mid), "lip_right": band & (cols > mid),
        "ring_left": ring & (cols < mid), "ring_right": ring & (cols > mid),
    }
    # the edges region cut into a 3 x 3 grid: a hand over one cheek fills a cell
    cells = []
    top = int(np.ceil(brow_y))
    for gy in range(3):
        for gx in range(3):
            cell = np.zeros_like(valid)
            cell[top + gy * (h - top) // 3:top + (gy + 1) * (h - top) // 3, gx * w // 3:(gx + 1) * w // 3] = True
            cell &= masks["edges"]
            if cell.sum() >= 60:
                cells.append(cell)
    masks["edge_cells"] = np.stack(cells)
    return tris[np.maximum(tri_of, 0)].astype(np.int32), bary, masks


def template(pixels: np.ndarray, face: Face) -> np.ndarray:
    """The face warped to the canonical frame.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` RGB frame.
        face: the face in it.

    Returns:
        ``(56, 48, 3)`` ``uint8`` RGB, the canonical face seen frontally (x to the image's
        right as in a frontal photo); pixels outside the face oval are undefined (see the
        ``valid`` mask).
    """
    tri, bary, _ = _template_geometry()
    w, h = TEMPLATE_SIZE
    pts = np.asarray(face.landmarks, np.float64)[:, :2]
    pos = np.einsum("nk,nkd->nd", bary, pts[tri])
    ih, iw = pixels.shape[:2]
    x0 = int(np.clip(np.floor(pos[:, 0].min()) - 2, 0, iw - 1))
    y0 = int(np.clip(np.floor(pos[:, 1].min()) - 2, 0, ih - 1))
    x1 = int(np.clip(np.ceil(pos[:, 0].max()) + 3, x0 + 1, iw))
    y1 = int(np.clip(np.ceil(pos[:, 1].max()) + 3, y0 + 1, ih))
    crop = pixels[y0:y1, x0:x1]
    # Shrink first (area averaging) so the template is not aliased: ~2 crop pixels per
    # template pixel.
    f = min(1.0, 2.0 * max(w, h) / max(x1 - x0, y1 - y0))
    fx = fy = 1.0
    if f < 1.0:
        sw, sh = max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f))
        fx, fy = sw / (x1 - x0), sh / (y1 - y0)
        crop = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
    mx = ((pos[:, 0] - x0 + 0.5) * fx - 0.5).astype(np.float32).reshape(h, w)
    my = ((pos[:, 1] - y0 + 0.5) * fy - 0.5).astype(np.float32).reshape(h, w)
    return cv2.remap(crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """``uint8`` RGB to ``float32`` Lab (L* 0..100, a*, b* about -128..127)."""
    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


# --------------------------------------------------------------------------- face flag

class _FlagModel:
    """The bundled face-landmark network run directly (lazily loaded, shared, locked)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.interpreter = None
        self.missing: str | None = None

    def load(self) -> bool:
        if self.interpreter is not None:
            return True
        if self.missing is not None:
            return False
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            self.missing = "ai-edge-litert"
            log.warning("ai-edge-litert is not installed: occlusion runs without the face-flag cue; "
                        "install it with: .venv/bin/pip install ai-edge-litert==2.3.0 'ml-dtypes<0.5'")
            return False
        spec = import_util.find_spec("mediapipe")
        path = Path(spec.origin).parent / _LANDMARK_MODEL if spec and spec.origin else None
        if path is None or not path.is_file():
            self.missing = "face_landmark.tflite"
            log.warning("mediapipe's face_landmark.tflite was not found: occlusion runs without "
                        "the face-flag cue")
            return False
        from .detect import filtered_native_stderr

        # TensorFlow Lite prints "INFO: Created TensorFlow Lite XNNPACK delegate" to file
        # descriptor 2 when the model is first built and run: keep it off the terminal.
        with filtered_native_stderr():
            interpreter = Interpreter(model_path=str(path), num_threads=1)
            interpreter.allocate_tensors()
            interpreter.invoke()
        self.input = interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
        shapes = {d["name"]: int(np.prod(d["shape"])) for d in interpreter.get_output_details()}
        self.landmarks_out = next(k for k, n in shapes.items() if n == 468 * 3)
        self.flag_out = next(k for k, n in shapes.items() if n == 1)
        self.outputs = outputs
        self.interpreter = interpreter
        return True


_flag_model = _FlagModel()


def _aligned_crop(pixels: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's tracking crop: the 468 points' box, level with the eyes, 1.5x, 192 px.

    Returns:
        ``(crop, to_crop)``: ``(192, 192, 3)`` ``uint8`` and the ``(2, 3)`` affine map from
        frame pixels to crop pixels (centres on integers in both).
    """
    p = np.asarray(face.landmarks, np.float64)[: mesh.N_SURFACE, :2]
    a, b = p[33], p[263]  # MediaPipe's rotation keypoints (eye corners)
    angle = np.arctan2(b[1] - a[1], b[0] - a[0])
    c, s = np.cos(-angle), np.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    q = p @ rot.T
    centre = (q.min(0) + q.max(0)) / 2
    side = max(float(np.ptp(q, axis=0).max()) * _ROI_SCALE, 1.0)
    k = _CROP / side
    to_crop = np.zeros((2, 3))
    to_crop[:, :2] = rot * k
    to_crop[:, 2] = -centre * k + (_CROP - 1) / 2
    crop = cv2.warpAffine(pixels, to_crop, (_CROP, _CROP), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    return crop, to_crop


def face_flag(pixels: np.ndarray, face: Face) -> tuple[float, np.ndarray] | None:
    """MediaPipe's face-presence logit for a fitted face, and that network's landmarks.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` RGB frame.
        face: the face in it (its landmarks place the crop).

    Returns:
        ``(logit, points)``: the face flag before its sigmoid (clear faces ~20-32; MediaPipe
        drops a track below 0) and ``(468, 2)`` ``float64`` ``(x, y)`` frame pixels from the
        plain (attention-free) landmark network; or ``None`` if ``ai-edge-litert`` or the
        model file is missing.
    """
    rgb = to_uint8(as_rgb(pixels, "frame"))
    crop, to_crop = _aligned_crop(rgb, face)
    x = crop.astype(np.float32) * np.float32(1 / 255)  # the graph's 0..1 input range
    with _flag_model.lock:
        if not _flag_model.load():
            return None
        m = _flag_model
        m.interpreter.set_tensor(m.input, x[None])
        m.interpreter.invoke()
        flag = float(m.interpreter.get_tensor(m.outputs[m.flag_out]).ravel()[0])
        lm = m.interpreter.get_tensor(m.outputs[m.landmarks_out]).reshape(468, 3)[:, :2].astype(np.float64)
    back = cv2.invertAffineTransform(to_crop)
    return flag, lm @ back[:, :2].T + back[:, 2]


# --------------------------------------------------------------------------- features

class _Features:
    """What one frame contributes: the template as ``(56, 48, 4)`` ``float32`` (L*, a*, b*
    relative to the median skin colour, and L*'s edge strength), lip contrasts, the skin's
    chroma (``|(a*, b*)|``), flag."""

    __slots__ = ("lab", "lips", "chroma", "flag")

    def __init__(self, lab: np.ndarray, lips: tuple[float, float], chroma: float, flag: float | None) -> None:
        self.lab = lab
        self.lips = lips
        self.chroma = chroma
        self.flag = flag


def _features(pixels: np.ndarray, face: Face) -> _Features:
    _, _, masks = _template_geometry()
    lab = _lab(template(pixels, face))
    skin = np.median(lab[masks["skin"]], axis=0)
    lab -= skin  # the frame's skin colour is the zero
    a = lab[..., 1]
    lips = tuple(
        float(a[masks[f"lip_{side}"]].mean() - np.median(a[masks[f"ring_{side}"]]))
        for side in ("left", "right")
    )
    # Edge strength of L* (Sobel magnitude, L* units per template pixel): fingers bring
    # edges where the face has none.
    gx = cv2.Sobel(lab[..., 0], cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lab[..., 0], cv2.CV_32F, 0, 1, ksize=3)
    edges = np.sqrt(gx * gx + gy * gy) * np.float32(1 / 8)
    found = face_flag(pixels, face)
    return _Features(np.dstack([lab, edges]), lips, float(np.hypot(skin[1], skin[2])),
                     None if found is None else found[0])


def _check(pixels, face) -> np.ndarray:
    if not isinstance(face, Face):
        raise InputError(f"face must be a mien.face.Face, got {type(face).__name__}", param="face")
    rgb = to_uint8(as_rgb(pixels, "frame"))
    if tuple(rgb.shape[:2]) != tuple(face.image_size):
        raise InputError(f"frame is {rgb.shape[1]}x{rgb.shape[0]} but the face was found in a "
                         f"{face.image_size[1]}x{face.image_size[0]} image", param="pixels")
    return rgb


# --------------------------------------------------------------------------- the track's reference

class FaceAppearance:
    """A tracked face's appearance, learned from the frames the caller judged clear.

    Holds a running per-pixel mean and variance of the canonical Lab template (the first
    frames averaged, then forgetting at 5 % a frame), and recent clear frames' face-flag
    logits and lip contrasts. Feed it with :meth:`update` only on frames :func:`occlusion`
    scored below :data:`OCCLUDED`. Not thread-safe: one per track.

    Drift: a partly occluded frame scored clear would teach the reference that the face
    looks like that, and the next such frames would pass more easily. So the flag
    reference is a high quantile of a long history, and each new value enters it clipped
    to at most :data:`_FLAG_STEP` below the reference (lip contrasts: at least
    :data:`_LIP_STEP` of it); a real lasting change (a turn, new light, a broad smile) is
    still learned, over a second or two.
    """

    def __init__(self) -> None:
        self.frames = 0
        self._mean: np.ndarray | None = None
        self._var: np.ndarray | None = None
        self._flags: deque[float] = deque(maxlen=_HISTORY)
        self._lips: deque[tuple[float, float]] = deque(maxlen=_HISTORY)
        self._last: tuple[object, object, _Features] | None = None
        # (pixels, face, score) of the last frame scored, and whether the frame scored
        # before it was occluded: the hysteresis prior.
        self._scored: tuple[object, object, float] | None = None
        self._before_occluded = False
        #: The cues of the last frame scored (diagnostics).
        self.last_cues: dict[str, float] = {}

    def update(self, pixels: np.ndarray, face: Face) -> None:
        """Learn from a clear frame.

        Args:
            pixels: ``(H, W, 3)`` ``uint8`` RGB frame.
            face: the face in it.
        """
        feats = self._features(pixels, face)
        ready = self.ready
        self.frames += 1
        if self._mean is None:
            self._mean = feats.lab.copy()
            self._var = np.zeros_like(feats.lab)
        else:
            self._learn_template(feats.lab, max(_EMA, 1.0 / self.frames))
        if feats.flag is not None:
            flag = feats.flag
            if ready and self.flag is not None:
                flag = max(flag, self.flag - _FLAG_STEP)
            self._flags.append(flag)
        lips = feats.lips
        if ready and self.lips is not None:
            lips = tuple(max(c, _LIP_STEP * r) for c, r in zip(lips, self.lips))
        self._lips.append(lips)

    def _learn_template(self, lab: np.ndarray, rate: float) -> None:
        d = lab - self._mean
        # Winsorise: one frame moves a pixel's mean by at most 3 spreads.
        spread = np.sqrt(self._var + _FLOORS ** 2)
        d = np.clip(d, -3 * spread, 3 * spread)
        self._mean += rate * d
        self._var = (1 - rate) * (self._var + rate * d * d)

    @property
    def ready(self) -> bool:
        """Whether enough clear frames were seen for the reference cues."""
        return self.frames >= MIN_REFERENCE_FRAMES

    @property
    def flag(self) -> float | None:
        """The reference face-flag logit (a high quantile of recent clear frames), or ``None``."""
        return float(np.percentile(self._flags, _FLAG_QUANTILE)) if self._flags else None

    @property
    def lips(self) -> tuple[float, float] | None:
        """Median lip contrast (left half, right half) of recent clear frames, or ``None``."""
        return tuple(float(v) for v in np.median(np.array(self._lips), axis=0)) if self._lips else None

    def _features(self, pixels, face) -> _Features:
        # occlusion() then update() on one frame: compute the features once.
        if self._last is not None and self._last[0] is pixels and self._last[1] is face:
            return self._last[2]
        feats = _features(_check(pixels, face), face)
        self._last = (pixels, face, feats)
        return feats

    def _prior(self, pixels, face) -> bool:
        """Whether the frame scored before this one was occluded."""
        if self._scored is not None and not (self._scored[0] is pixels and self._scored[1] is face):
            self._before_occluded = self._scored[2] >= OCCLUDED
            self._scored = None
        return self._before_occluded


# --------------------------------------------------------------------------- the score

def _ramp(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def cues(pixels: np.ndarray, face: Face, appearance: FaceAppearance | None = None) -> dict[str, float]:
    """Each cue's evidence of occlusion in ``[0, 1]`` (see the module docstring).

    Returns:
        ``{"flag", "lips", "area", "edges", "previous"}`` evidences (``previous`` is the hysteresis
        prior: :data:`_STICKY` if the track's previous frame scored occluded), and
        ``"logit"``, the raw face flag (NaN without ai-edge-litert).
    """
    if appearance is not None and not isinstance(appearance, FaceAppearance):
        raise InputError(f"appearance must be a FaceAppearance or None, got {type(appearance).__name__}",
                         param="appearance")
    if appearance is not None:
        feats = appearance._features(pixels, face)
    else:
        feats = _features(_check(pixels, face), face)
    ref = appearance if appearance is not None and appearance.ready else None
    out = {"flag": 0.0, "lips": 0.0, "area": 0.0, "edges": 0.0, "previous": 0.0,
           "logit": float("nan") if feats.flag is None else feats.flag}
    if appearance is not None and appearance._prior(pixels, face):
        out["previous"] = _STICKY
    if feats.flag is not None:
        if ref is not None and ref.flag is not None:
            out["flag"] = _ramp(ref.flag - feats.flag, *_FLAG_RAMP)
        else:
            out["flag"] = _ramp(_FLAG_GENERIC - feats.flag, *_FLAG_RAMP_GENERIC)
    # Generic (any face): lips hardly redder than the skin around them, for the skin's own
    # colourfulness; in grey video only lips less red than skin count.
    if feats.chroma >= _SKIN_MIN_CHROMA:
        out["lips"] = _ramp(min(feats.lips) / feats.chroma, *_LIP_RAMP_GENERIC)
    else:
        out["lips"] = _ramp(-min(feats.lips), 0.0, 3.0)
    ref_lips = None if ref is None else ref.lips
    if ref_lips is not None and min(ref_lips) >= _LIP_MIN_CONTRAST:
        ratio = min(c / r for c, r in zip(feats.lips, ref_lips))
        out["lips"] = max(out["lips"], _ramp(ratio, *_LIP_RAMP))
    if ref is not None:
        _, _, masks = _template_geometry()
        spread2 = ref._var + _FLOORS ** 2
        d = feats.lab - ref._mean
        z2 = (d[..., :3] ** 2 / spread2[..., :3]).sum(-1)
        share = float((z2[masks["lower"]] > _AREA_Z ** 2).mean())
        out["area"] = _ramp(share, *_AREA_RAMP)
        # new edges only (one-sided): the whole face but the mouth opening
        z = d[..., 3] / np.sqrt(spread2[..., 3])
        new = z > _EDGE_Z
        cells = masks["edge_cells"]
        share = float(((new[None] & cells).sum((1, 2)) / cells.sum((1, 2))).max())
        out["edges"] = _ramp(share, *_EDGE_RAMP)
    return out


def combine(evidence: dict[str, float]) -> float:
    """The score from :func:`cues`' evidences: a noisy-OR, ``1 - prod(1 - p)``."""
    keep = 1.0
    for name in ("flag", "lips", "area", "edges", "previous"):
        keep *= 1.0 - evidence.get(name, 0.0)
    return float(1.0 - keep)


def occlusion(pixels: np.ndarray, face: Face, appearance: FaceAppearance | None) -> float:
    """How occluded a tracked face is in one frame.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` RGB frame.
        face: the face fitted in it (e.g. by :func:`mien.detect.track`).
        appearance: the track's reference, learned from earlier clear frames, or ``None``
            (then only the generic cues count). It also remembers whether the previous
            frame scored occluded (hysteresis): score a track's frames in order, once each
            (scoring the same frame again is fine).

    Returns:
        ``0`` (clear) .. ``1`` (occluded); at or above :data:`OCCLUDED` the frame should be
        passed through unedited. Update ``appearance`` with this frame only below it.
    """
    evidence = cues(pixels, face, appearance)
    score = combine(evidence)
    if appearance is not None:
        appearance._scored = (pixels, face, score)
        appearance.last_cues = evidence
        if (score >= OCCLUDED and appearance.ready and evidence["area"] + evidence["edges"] > 0
                and evidence["flag"] < _CREEP_CALM and evidence["lips"] < _CREEP_CALM):
            # Only the template disagrees, for frames on end: a change of light or make-up
            # rather than a hand (which moves the face flag or hides the lips). Creep toward
            # it so the track is not passed through for good.
            appearance._learn_template(appearance._features(pixels, face).lab, _CREEP)
    return score

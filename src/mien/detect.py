"""Detect and fit: every face in a photo, 478 landmarks each (MediaPipe).

Detection runs MediaPipe's full-range face detector on a copy of the photo at most
:data:`DETECT_SIZE` pixels across. Each detected face is then fitted on a square crop cut
from the full-resolution photo, so small faces in large photos keep their precision:

1. *Orientation.* The detector is run again on a small copy of the crop turned by 0, 90,
   180 and 270 degrees; the turn it is most confident about, refined by its keypoints
   (eyes and mouth), gives the face's in-plane rotation. (The full-image detector happily
   reports an upside-down face as an upright one; scoring the four turns does not.)
2. *Mesh.* MediaPipe's face mesh (with iris refinement) fits 478 landmarks on a
   :data:`MESH_CROP`-pixel crop turned so that the face is upright; the landmarks are
   mapped back to photo pixels exactly.
3. *Plausibility.* A fit whose geometry is implausible (:func:`implausibility`: mouth
   above the eyes, an oval turned against its features, a mirrored face, a mesh turned
   away from the detected orientation or far from the detector's keypoints) is retried
   once at the next most likely rotation and otherwise refused: it is left out of
   :func:`analyze`'s result with a logged warning, and :func:`examine` says why.

Faces are numbered left to right. :func:`fit` fits one face in a given box without
detection; :func:`track` follows a face from the previous video frame.

Rotations are in degrees, clockwise in the image, 0 for an upright face: the sign of
:attr:`mien.face.HeadPose.angles`' roll.

The models load on first use, once per process (:func:`load` loads them ahead of time);
every model call is serialised by one lock (MediaPipe graphs are not thread-safe). Only
while loading, MediaPipe's C++ log lines (written straight to file descriptor 2) are
filtered out of stderr; anything else written there meanwhile is passed on.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from . import mesh
from .errors import InputError, MissingDependencyError
from .face import Face
from .image import as_rgb, to_uint8

log = logging.getLogger(__name__)

#: Longest side of the copy the detector sees.
DETECT_SIZE = 1024
#: Side of the square crop, in pixels, that the face mesh sees.
MESH_CROP = 512
#: Side of the small copy of the crop on which the face's orientation is judged.
ORIENT_CROP = 128
#: Faces turned less than this (degrees) are fitted on an unturned crop: MediaPipe copes
#: with small rolls itself, and the crop then needs no rotation resampling.
SNAP_DEGREES = 10.0

# Plausibility thresholds (see :func:`implausibility`). Fits on the test photos at every
# rotation stay far inside them; the upside-down fits they are meant to catch are far out.
_MAX_OVAL_TURN = 45.0  # degrees between the oval's axis and the eyes-mouth axis
_MAX_ORIENTATION_TURN = 60.0  # degrees between the fit and the expected orientation
_MIN_HANDEDNESS = 0.5  # cosine between the eye line and the face's "right"
_MAX_KEYPOINT_ERROR = 0.5  # detector keypoint vs mesh, in inter-ocular distances
#: A second orientation is tried only if the detector scores it at least this fraction of
#: the best one (upside-down readings of real faces scored up to 0.86 of the right one).
_RETRY_SCORE_RATIO = 0.9
#: The mesh crop is re-centred on the crop detector's box when the detector box's centre
#: is this many box sides away from it (upright faces: ~0.02; upside down: up to 0.36).
_RECENTRE = 0.2
#: Detector box side per face-oval extent (upright faces in the test photos: 0.96-1.02).
_BOX_PER_OVAL = 0.97


@dataclass(frozen=True)
class Refusal:
    """A detected face whose fit was refused.

    Attributes:
        box: ``(x0, y0, x1, y1)`` detector box in pixels.
        score: detector confidence in ``[0, 1]``.
        reason: one line saying what was wrong with the fit.
    """

    box: tuple[float, float, float, float]
    score: float
    reason: str


@dataclass(frozen=True)
class Analysis:
    """What :func:`examine` found in a photo.

    Attributes:
        faces: the fitted faces, numbered left to right (what :func:`analyze` returns).
        refused: detected faces whose fit was implausible, with the reason.
    """

    faces: tuple[Face, ...]
    refused: tuple[Refusal, ...]


# --------------------------------------------------------------------------- models

_NATIVE_LOG = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ [\w.\-]+:\d+\] "  # absl / glog lines
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


@contextmanager
def filtered_native_stderr():
    """Keep MediaPipe's C++ log lines (written to file descriptor 2) out of stderr.

    Used only while the models load (that is when they print). File descriptor 2 is
    process-wide, so whatever other threads write meanwhile also lands in the temporary
    file; it is passed on to the real stderr afterwards, minus MediaPipe's own lines.
    """
    try:
        os.fstat(2)
        sink = tempfile.TemporaryFile()
    except OSError:  # pragma: no cover - no stderr or no temporary directory
        yield
        return
    with sink:
        _flush_stderr()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = b"".join(line for line in sink.read().splitlines(keepends=True)
                            if not _NATIVE_LOG.match(line))
            while kept:
                kept = kept[os.write(2, kept):]


def _flush_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # pragma: no cover
        pass


class _Models:
    """MediaPipe graphs, loaded once and shared; use them only while holding ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.detectors: dict[int, object] = {}
        self.mesh = None

    def load(self) -> None:
        """Build the graphs and run each once (MediaPipe prints its log lines then)."""
        if self.mesh is not None:
            return
        with filtered_native_stderr():
            mp = self._mp()
            detectors = {
                model: mp.solutions.face_detection.FaceDetection(model_selection=model,
                                                                 min_detection_confidence=0.5)
                for model in (0, 1)
            }
            face_mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=3, refine_landmarks=True,
                min_detection_confidence=0.4,
            )
            for image in (np.zeros((ORIENT_CROP, ORIENT_CROP, 3), np.uint8), _warm_up_face()):
                if image is None:
                    continue
                for detector in detectors.values():
                    detector.process(image)
                face_mesh.process(image)
        self.detectors = detectors
        self.mesh = face_mesh

    @staticmethod
    def _mp():
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - exercised only on broken installs
            raise MissingDependencyError(
                "mediapipe is not installed; run: .venv/bin/pip install --no-deps mediapipe==0.10.21"
            ) from exc
        return mp


def _warm_up_face() -> np.ndarray | None:
    """A real face (the package's sample photo) at mesh-crop size, or ``None``.

    The face mesh prints a warning the first time it finds a face, so warming it up on a
    blank image is not enough to keep it quiet afterwards.
    """
    from importlib import resources

    try:
        data = resources.files("mien").joinpath("data/samples/london-020-neutral.jpg").read_bytes()
    except OSError:
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    image = cv2.resize(image, (MESH_CROP, MESH_CROP), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image[:, :, ::-1])


_models = _Models()


def load() -> None:
    """Load the MediaPipe models now rather than on first use.

    Loading takes about a second; while it runs, file descriptor 2 is redirected so that
    MediaPipe's log lines can be dropped (other output written meanwhile is passed on
    afterwards, not lost). A threaded server may call this at start-up.
    """
    with _models.lock:
        _models.load()


def _run_detector(model: int, image: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Run a detector: ``(score, box, keypoints)`` per face, in pixels of ``image``.

    ``box`` is ``(4,)`` ``(x0, y0, x1, y1)``; ``keypoints`` is ``(6, 2)`` ``(x, y)`` in
    MediaPipe's order: right eye, left eye, nose tip, mouth centre, right ear, left ear
    (the subject's right and left). Pixel centres are on integers.
    """
    h, w = image.shape[:2]
    result = _models.detectors[model].process(image)
    found = []
    for det in result.detections or ():
        bb = det.location_data.relative_bounding_box
        box = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h]) - 0.5
        kp = np.array([(k.x * w - 0.5, k.y * h - 0.5) for k in det.location_data.relative_keypoints])
        found.append((float(det.score[0]), box, kp))
    return found


def _run_mesh(crop: np.ndarray) -> list[np.ndarray]:
    """Run the face mesh on a crop: ``(478, 3)`` normalised ``(x, y, z)`` per face found.

    ``x * side`` is a pixel coordinate with pixel centres at ``+0.5`` (MediaPipe's
    convention), ``z`` is in the units of ``x``.
    """
    result = _models.mesh.process(crop)
    return [np.array([(p.x, p.y, p.z) for p in lms.landmark], np.float64)
            for lms in result.multi_face_landmarks or ()]


# --------------------------------------------------------------------------- public API

def analyze(pixels: np.ndarray) -> tuple[Face, ...]:
    """Find and fit every face in a photo, at any in-plane rotation.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` or ``uint16`` RGB.

    Returns:
        Faces numbered left to right; empty if there is none. Faces whose fit is
        implausible are left out (a warning is logged; :func:`examine` gives the reasons).
        Nothing is cached here: :class:`mien.session.Session` analyses a photo once and
        keeps the result.
    """
    return examine(pixels).faces


def examine(pixels: np.ndarray) -> Analysis:
    """Like :func:`analyze`, and also report the detected faces whose fit was refused.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` or ``uint16`` RGB.

    Returns:
        An :class:`Analysis`: the faces :func:`analyze` returns and the refusals.
    """
    rgb = to_uint8(as_rgb(pixels, "photo"))
    small = _detection_copy(rgb)
    with _models.lock:
        _models.load()
        boxes = _detect(small, rgb.shape[:2])
        boxes += _detect_in_tiles(rgb, boxes)
        fits = [(_fit(rgb, box), box, score) for box, score in boxes]
    h, w = rgb.shape[:2]
    candidates = [(lm, box, score, clarity) for (lm, clarity, reason), box, score in fits
                  if lm is not None and reason is None]
    # Two detections of one face fit it twice: keep the fit from the box best centred on
    # it (an off-centre crop fits a little worse) whose orientation was clearest.
    candidates.sort(key=lambda f: _box_offset(f[1], f[0]) - f[3])
    fitted: list[tuple[np.ndarray, tuple, float]] = []
    for lm, box, score, _ in candidates:
        if not any(_same_face(lm, f[0]) for f in fitted):
            fitted.append((lm, box, score))
    # A refused duplicate of a face that was fitted is no refusal.
    refused = [Refusal(box, score, reason) for (lm, _, reason), box, score in fits
               if reason is not None
               and not any(_inside(box, f[0]) or _same_face(lm, f[0]) for f in fitted)]
    for r in refused:
        log.warning("face at (%.0f, %.0f, %.0f, %.0f) refused: %s", *r.box, r.reason)
    fitted.sort(key=lambda f: f[0][:, 0].mean())
    faces = tuple(
        Face(i, lm.astype(np.float32), tuple(float(v) for v in box), float(score), (h, w))
        for i, (lm, box, score) in enumerate(fitted)
    )
    return Analysis(faces, tuple(refused))


def fit(pixels: np.ndarray, box, rotation: float | None = None) -> Face | None:
    """Fit one face in a given box, without detecting faces in the whole photo.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` or ``uint16`` RGB.
        box: ``(x0, y0, x1, y1)`` pixels around the face, like a detector box (the mesh
            sees a square twice its longer side around its centre).
        rotation: the face's in-plane rotation, degrees clockwise (0 upright). ``None``
            judges it from the crop as :func:`analyze` does, and retries once if the fit
            is implausible; a given rotation is used as is.

    Returns:
        The face (``index`` 0, ``score`` the detector's confidence on the crop, 0 if the
        detector saw no face there), or ``None`` if no plausible face was fitted (the
        reason is logged).
    """
    rgb = to_uint8(as_rgb(pixels, "photo"))
    box = _check_box(box)
    if rotation is not None:
        rotation = float(rotation)
        if not np.isfinite(rotation):
            raise InputError(f"rotation must be a finite number of degrees, got {rotation}")
    with _models.lock:
        _models.load()
        lm, score, reason = _fit(rgb, box, rotation)
    if lm is None or reason is not None:
        if reason is None:
            log.info("no face found in box (%.0f, %.0f, %.0f, %.0f)", *box)
        else:
            log.warning("face in box (%.0f, %.0f, %.0f, %.0f) refused: %s", *box, reason)
        return None
    return Face(0, lm.astype(np.float32), box, score, rgb.shape[:2])


def track(pixels: np.ndarray, previous: Face) -> Face | None:
    """Fit a face in the next video frame where it was in the previous one.

    No detector runs: the crop is placed and turned from ``previous``'s landmarks. The
    face may move by up to 0.6 of its size and change size by up to a factor 1.67
    between frames.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` or ``uint16`` RGB, the next frame.
        previous: the face in the previous frame (from :func:`analyze`, :func:`fit` or
            :func:`track`).

    Returns:
        The face, with ``previous``'s index and score and the box the crop was placed
        by; or ``None`` when the face is lost (no face, an implausible fit, or a jump or
        size change too large to be the same face): detect again then.
    """
    rgb = to_uint8(as_rgb(pixels, "frame"))
    if not isinstance(previous, Face):
        raise InputError(f"previous must be a mien.face.Face, got {type(previous).__name__}")
    points = np.asarray(previous.landmarks, np.float64)[:, :2]
    rotation = _roll(points)
    box = _box_from_landmarks(points, rotation)
    with _models.lock:
        _models.load()
        lm = _fit_at(rgb, box, rotation)
    if lm is None:
        log.info("track lost: no face in the previous face's place")
        return None
    reason = implausibility(lm, rotation=rotation)
    if reason is None:
        reason = _jump(points, lm[:, :2])
    if reason is not None:
        log.info("track lost: %s", reason)
        return None
    return Face(previous.index, lm.astype(np.float32), box, float(previous.score), rgb.shape[:2])


def implausibility(landmarks, rotation: float | None = None, keypoints=None) -> str | None:
    """Why a fitted face's geometry is implausible, or ``None`` if it is plausible.

    Checks that the eyes sit between the forehead and the mouth and the mouth above the
    chin along the face oval's axis, that the oval is not turned against the eyes-mouth
    axis, that the subject's left eye is on the face's left (not a mirrored face) and, if
    given, that the fit is turned as expected and agrees with the detector's keypoints.

    Args:
        landmarks: ``(478, 2|3)`` ``(x, y[, z])`` pixels (a :class:`Face`'s landmarks).
        rotation: the face's expected in-plane rotation, degrees clockwise (0 upright).
        keypoints: ``(>=4, 2)`` detector keypoints in pixels, MediaPipe's order (right
            eye, left eye, nose tip, mouth centre, ...).

    Returns:
        A one-line reason, or ``None``.
    """
    p = np.asarray(landmarks, np.float64)
    if p.ndim != 2 or p.shape[0] != mesh.N_LANDMARKS or p.shape[1] not in (2, 3):
        raise InputError(f"landmarks must be ({mesh.N_LANDMARKS}, 2 or 3), got {p.shape}")
    p = p[:, :2]
    if not np.isfinite(p).all():
        return "the landmarks are not finite"
    right_eye, left_eye = _eye_centres(p)
    eyes = (right_eye + left_eye) / 2
    mouth = p[list(mesh.LIPS_OUTER)].mean(axis=0)
    iod = float(np.linalg.norm(left_eye - right_eye))
    if iod < 1.0 or np.linalg.norm(eyes - mouth) < 0.2 * iod:
        return "the fit is degenerate (eyes and mouth collapse to a point)"
    up = _unit(eyes - mouth)  # the face's up according to its features
    axis = p[10] - p[152]  # chin to top of the forehead, along the oval
    turn = _angle(up, axis)
    if turn > _MAX_OVAL_TURN:
        return f"the face oval is turned {turn:.0f} degrees against the eyes and mouth"
    along = _unit(axis)
    top, chin = p[10] @ along, p[152] @ along
    if not top > eyes @ along > mouth @ along > chin:
        return "the mouth is above the eyes, or the features lie outside the face oval"
    right = np.array([-up[1], up[0]])  # the image's right for an upright face
    if _unit(left_eye - right_eye) @ right < _MIN_HANDEDNESS:
        return "the face is mirrored (the subject's left eye is on the face's right)"
    if rotation is not None:
        expected = _up(float(rotation))
        turn = _angle(up, expected)
        if turn > _MAX_ORIENTATION_TURN:
            return (f"the fit is turned {turn:.0f} degrees from the face's orientation "
                    f"({float(rotation) % 360:.0f} degrees)")
    if keypoints is not None:
        kp = np.asarray(keypoints, np.float64)
        if kp.ndim != 2 or kp.shape[0] < 4 or kp.shape[1] != 2:
            raise InputError(f"keypoints must be (>=4, 2), got {kp.shape}")
        ours = np.stack([right_eye, left_eye, p[4], (p[13] + p[14]) / 2])
        error = float(np.linalg.norm(ours - kp[:4], axis=1).max()) / iod
        if error > _MAX_KEYPOINT_ERROR:
            return f"the mesh disagrees with the detector's keypoints by {error:.1f} eye distances"
    return None


# --------------------------------------------------------------------------- detection

def _detection_copy(rgb: np.ndarray) -> np.ndarray:
    """The photo at most :data:`DETECT_SIZE` pixels across, low-passed properly."""
    small = rgb
    while max(small.shape[:2]) > 2 * DETECT_SIZE:  # halve with a proper low-pass first
        small = cv2.pyrDown(small)
    f = min(1.0, DETECT_SIZE / max(small.shape[:2]))
    if f < 1:
        small = cv2.resize(small, (round(small.shape[1] * f), round(small.shape[0] * f)),
                           interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(small)


def _detect(small: np.ndarray, size: tuple[int, int]) -> list[tuple[tuple[float, float, float, float], float]]:
    """Face boxes ``(x0, y0, x1, y1)`` in full-resolution pixels (``size`` ``(h, w)``), with scores.

    If the upright copy shows no face, the copy turned by 90, 180 and 270 degrees is tried
    (the detector misses some faces that lie on their side or upside down).
    """
    h, w = size
    sh, sw = small.shape[:2]
    found: list[tuple[tuple[float, float, float, float], float]] = []
    for k in range(4):
        if k and found:
            break
        image = np.ascontiguousarray(np.rot90(small, k)) if k else small
        back = np.linalg.inv(_rot90_matrix(k, (sh, sw)))
        for model in (1, 0):  # full range first, short range for faces that fill the frame
            for score, b, _ in _run_detector(model, image):
                corners = np.array([[b[0], b[1], 1], [b[2], b[3], 1]]) @ back.T
                x0, y0 = corners[:, :2].min(axis=0)
                x1, y1 = corners[:, :2].max(axis=0)
                # detector-copy pixels (centres on integers) to photo edge coordinates,
                # as boxes have always been given (0 is the photo's left edge)
                box = ((x0 + 0.5) * w / sw, (y0 + 0.5) * h / sh,
                       (x1 + 0.5) * w / sw, (y1 + 0.5) * h / sh)
                if all(_iou(box, other) < 0.3 for other, _ in found):
                    found.append((tuple(float(v) for v in box), score))
    return found


#: A photo where a face was found smaller than this many pixels across *as the detector
#: sees it* (its 192 px input of the whole photo) is also searched in overlapping square
#: tiles: others there may be smaller still (a group in a row, a crowd).
TILE_SMALL_FACE = 32
#: ...and so is a panorama (long side more than this many times the short) where the
#: whole-photo pass found no face at all.
TILE_ASPECT = 2.5
#: Longest side of a tile as the detector sees it.
TILE_SIZE = 512
#: Side of the square input of MediaPipe's full-range detector.
_DETECTOR_INPUT = 192


def _tiles(size: tuple[int, int], side: int) -> list[tuple[int, int, int, int]]:
    """Square tiles ``(x0, y0, x1, y1)`` of ``side`` pixels covering an image of ``size``
    ``(h, w)``, overlapping by at least a quarter (the last ones flush with the edges)."""
    h, w = size

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = int(np.ceil((length - side) / (0.75 * side))) + 1
        return sorted({round(i * (length - side) / (n - 1)) for i in range(n)})

    return [(x, y, min(w, x + side), min(h, y + side)) for y in starts(h) for x in starts(w)]


def _detect_in_tiles(rgb: np.ndarray, found: list) -> list[tuple[tuple[float, float, float, float], float]]:
    """Faces the whole-photo pass missed, looked for in overlapping tiles of the
    full-resolution photo: only when a face found is small in the detector's view, or in a
    panorama with no face found (:data:`TILE_SMALL_FACE`, :data:`TILE_ASPECT`); a portrait,
    a video frame of a talking head or an empty 16:9 frame runs nothing more.

    Returns boxes in photo pixels, with scores, that overlap none of ``found``.
    """
    h, w = rgb.shape[:2]
    short, long = min(h, w), max(h, w)
    smallest = min((max(b[2] - b[0], b[3] - b[1]) for b, _ in found), default=None)
    if smallest is not None and smallest * _DETECTOR_INPUT / long < TILE_SMALL_FACE:
        side = int(np.clip(6 * smallest, 256, short))
    elif smallest is None and long > TILE_ASPECT * short:
        side = int(min(short, 2 * TILE_SIZE))
    else:
        return []
    if side < 64:
        return []
    extra: list[tuple[tuple[float, float, float, float], float]] = []
    for x0, y0, x1, y1 in _tiles((h, w), side):
        tile = rgb[y0:y1, x0:x1]
        f = min(1.0, TILE_SIZE / max(tile.shape[:2]))
        if f < 1:
            tile = cv2.resize(tile, (round(tile.shape[1] * f), round(tile.shape[0] * f)),
                              interpolation=cv2.INTER_AREA)
        sy, sx = (y1 - y0) / tile.shape[0], (x1 - x0) / tile.shape[1]
        for score, b, _ in _run_detector(1, np.ascontiguousarray(tile)):
            box = (x0 + (b[0] + 0.5) * sx, y0 + (b[1] + 0.5) * sy, x0 + (b[2] + 0.5) * sx, y0 + (b[3] + 0.5) * sy)
            if all(_iou(box, other) < 0.3 for other, _ in [*found, *extra]):
                extra.append((tuple(float(v) for v in box), score))
    return extra


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _inside(box, lm: np.ndarray) -> bool:
    """Whether a box's centre lies within a fitted face's landmark extent."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    lo, hi = lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)
    return bool(lo[0] <= cx <= hi[0] and lo[1] <= cy <= hi[1])


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two fits are of one face: their eyes or their ovals nearly coincide."""
    a, b = a[:, :2], b[:, :2]
    ea, eb = np.mean(_eye_centres(a), axis=0), np.mean(_eye_centres(b), axis=0)
    if np.linalg.norm(ea - eb) < 0.5 * min(_interocular(a), _interocular(b)):
        return True
    oa, ob = a[list(mesh.FACE_OVAL)], b[list(mesh.FACE_OVAL)]
    size = min(float(np.ptp(oa, axis=0).max()), float(np.ptp(ob, axis=0).max()))
    return bool(np.linalg.norm(oa.mean(axis=0) - ob.mean(axis=0)) < 0.4 * size)


def _box_offset(box, lm: np.ndarray) -> float:
    """Distance from a box's centre to the fitted face's centre, in face sizes."""
    oval = lm[list(mesh.FACE_OVAL), :2]
    centre = (oval.min(axis=0) + oval.max(axis=0)) / 2
    size = max(float(np.ptp(oval, axis=0).max()), 1.0)
    return float(np.hypot((box[0] + box[2]) / 2 - centre[0], (box[1] + box[3]) / 2 - centre[1])) / size


def _check_box(box) -> tuple[float, float, float, float]:
    try:
        b = np.asarray(box, np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"box must be (x0, y0, x1, y1) numbers, got {box!r}") from exc
    if b.shape != (4,) or not np.isfinite(b).all() or b[2] <= b[0] or b[3] <= b[1]:
        raise InputError(f"box must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {box!r}")
    return tuple(float(v) for v in b)


# --------------------------------------------------------------------------- fitting

def _fit(rgb: np.ndarray, box, rotation: float | None = None) -> tuple[np.ndarray | None, float, str | None]:
    """Fit one face in a detector box.

    With ``rotation`` ``None`` the orientation is judged on the crop, and an implausible
    fit is retried once at the next candidate rotation (at most two mesh passes).

    Returns:
        ``(landmarks, score, None)`` for a plausible fit (``(478, 3)`` ``float64`` photo
        pixels, the crop detector's confidence); ``(landmarks, 0, reason)`` with the first
        implausible fit if every fit was implausible; ``(None, 0, None)`` if there is no
        face to fit.
    """
    upright = _crop(rgb, box, MESH_CROP, 0.0)
    if upright is None:
        log.debug("box %s lies (almost) outside the photo", box)
        return None, 0.0, None
    if rotation is None:
        candidates = _orientations(*upright)
        if not candidates:
            # Without the detector's view there is no telling which way up the face is,
            # and a mesh fitted the wrong way up looks as plausible as a right one.
            log.debug("the detector sees no face in box %s at any orientation", box)
            return None, 0.0, None
        # Retry only an orientation the detector finds about as likely as the best: a
        # far less likely one (typically upside down) can fool the mesh consistently.
        candidates = [c for i, c in enumerate(candidates[:2])
                      if i == 0 or c[0] >= _RETRY_SCORE_RATIO * candidates[0][0]]
    else:
        candidates = [(None, rotation, None, None)]
    refused: tuple[np.ndarray | None, str | None] = (None, None)
    for score, roll, keypoints, seen in candidates:
        if seen is not None and _recentre(box, seen):
            # The detector box is far off the face (upside-down faces fool the full-image
            # detector): cut the crop around the face the crop detector found instead.
            lm = _fit_at(rgb, seen, roll, None, keypoints)
        else:
            lm = _fit_at(rgb, box, roll, upright, keypoints)
        if lm is None:
            continue
        if score is None:  # a given rotation: score the turned crop
            score, keypoints = _score_at(rgb, box, roll, upright)
        reason = implausibility(lm, rotation=roll, keypoints=keypoints)
        if reason is None:
            return lm, score, None
        log.debug("fit at %.0f degrees implausible: %s", roll, reason)
        if refused[1] is None:
            refused = (lm, reason)
    return refused[0], 0.0, refused[1]


def _orientations(crop: np.ndarray, to_crop: np.ndarray) -> list[tuple]:
    """Candidate rotations of the face in an unturned crop, most likely first.

    Returns:
        ``(score, rotation, keypoints, box)`` per distinct orientation the detector saw the
        face in: detector confidence, degrees clockwise, ``(6, 2)`` keypoints in photo
        pixels, and a square ``(x0, y0, x1, y1)`` photo box around the detection.
    """
    small, to_small = _shrink(crop, ORIENT_CROP)
    found = []
    for k in range(4):
        image = np.ascontiguousarray(np.rot90(small, k))
        dets = _run_detector(0, image)
        if not dets:
            continue
        # the face is at the crop's centre; another face may show near its edge
        centre = (ORIENT_CROP - 1) / 2
        score, b, kp = min(dets, key=lambda d: np.hypot(*((d[1][:2] + d[1][2:]) / 2 - centre)))
        to_image = _rot90_matrix(k, small.shape[:2]) @ to_small @ to_crop
        back = np.linalg.inv(to_image)
        kp = _apply(back, kp)
        cx, cy = _apply(back, ((b[:2] + b[2:]) / 2)[None])[0]
        half = max(b[2] - b[0], b[3] - b[1]) * np.sqrt(abs(np.linalg.det(back[:2, :2]))) / 2
        found.append((score, _roll_from_keypoints(kp), kp, (cx - half, cy - half, cx + half, cy + half)))
    found.sort(key=lambda c: -c[0])
    distinct: list[tuple] = []
    for c in found:
        if all(_angle(_up(c[1]), _up(d[1])) > 45 for d in distinct):
            distinct.append(c)
    return distinct


def _recentre(box, seen) -> bool:
    """Whether the crop detector's box ``seen`` is far enough off ``box`` to crop around it."""
    side = max(box[2] - box[0], box[3] - box[1])
    shift = np.hypot((seen[0] + seen[2] - box[0] - box[2]) / 2, (seen[1] + seen[3] - box[1] - box[3]) / 2)
    return bool(shift > _RECENTRE * side)


def _score_at(rgb, box, rotation, upright) -> tuple[float, np.ndarray | None]:
    """Detector confidence and keypoints (photo pixels) on the crop turned by ``rotation``."""
    turned = _crop(rgb, box, MESH_CROP, _snap(rotation), upright)
    if turned is None:
        return 0.0, None
    small, to_small = _shrink(turned[0], ORIENT_CROP)
    dets = _run_detector(0, small)
    if not dets:
        return 0.0, None
    score, _, kp = max(dets, key=lambda d: d[0])
    return score, _apply(np.linalg.inv(to_small @ turned[1]), kp)


def _fit_at(rgb: np.ndarray, box, rotation: float, upright=None, keypoints=None) -> np.ndarray | None:
    """Fit 478 landmarks on a crop around ``box`` turned so a face rotated by ``rotation``
    is upright: ``(478, 3)`` ``float64`` photo pixels, or ``None`` if the mesh finds no face.

    If the mesh finds several faces, the one whose eyes are nearest the detector's
    ``keypoints`` (photo pixels) is kept, or without keypoints the one nearest the centre.
    """
    turned = _crop(rgb, box, MESH_CROP, _snap(rotation), upright)
    if turned is None:
        return None
    crop, to_crop = turned
    meshes = _run_mesh(crop)
    if not meshes:
        return None
    if keypoints is None or len(meshes) == 1:
        # The face is at the crop's centre; others may show near its edges.
        best = min(meshes, key=lambda m: np.linalg.norm(m[:, :2].mean(axis=0) - 0.5))
    else:
        eyes = (_apply(to_crop, np.asarray(keypoints[:2], np.float64)).mean(axis=0) + 0.5) / MESH_CROP
        best = min(meshes, key=lambda m: np.linalg.norm(np.mean(_eye_centres(m[:, :2]), axis=0) - eyes))
    # MediaPipe's normalised x * side has pixel centres at +0.5; ours are on integers.
    uv = best[:, :2] * MESH_CROP - 0.5
    lm = np.empty_like(best)
    lm[:, :2] = _apply(np.linalg.inv(to_crop), uv)
    lm[:, 2] = best[:, 2] * MESH_CROP / np.sqrt(abs(np.linalg.det(to_crop[:2, :2])))
    return lm


def _snap(rotation: float) -> float:
    """The crop's turn for a face rotated by ``rotation``: 0 for small rolls, else the roll."""
    r = (float(rotation) + 180.0) % 360.0 - 180.0
    return 0.0 if abs(r) < SNAP_DEGREES else r


def _crop(rgb: np.ndarray, box, size: int, rotation: float, upright=None):
    """A ``size``-pixel square crop twice the box's longer side around its centre, turned
    counter-clockwise by ``rotation`` degrees (so a face rotated clockwise by that much is
    upright in it).

    The unturned crop (:func:`_crop_upright`, passed as ``upright`` if already made) is
    turned about its centre: exactly for multiples of 90 degrees, bilinearly otherwise.
    The corners of a bilinearly turned crop come from outside the unturned one and repeat
    its edge; the face (the box, half the crop's side) lies inside the disc the turn keeps.
    Cutting a larger region from the photo instead gave the same accuracy, more slowly.

    Returns:
        ``(crop, to_crop)``: ``(size, size, 3)`` ``uint8`` and the ``(3, 3)`` affine map
        from photo pixels to crop pixels (centres on integers in both); or ``None`` if the
        crop would hold (almost) none of the photo.
    """
    r = float(rotation) % 360.0
    k = round(r / 90.0) % 4
    exact = abs(r - 90.0 * round(r / 90.0)) < 1e-9
    if upright is None:
        upright = _crop_upright(rgb, box, size)
        if upright is None:
            return None
    crop, to_crop = upright
    if k == 0 and exact:
        return crop, to_crop
    if exact:
        return np.ascontiguousarray(np.rot90(crop, k)), _rot90_matrix(k, crop.shape[:2]) @ to_crop
    t = np.radians(r)
    c, s = np.cos(t), np.sin(t)
    centre = (size - 1) / 2
    # turn about the crop's centre; undoes a clockwise rotation by t (y points down)
    turn = np.array([[c, s, centre - (c + s) * centre], [-s, c, centre - (c - s) * centre], [0, 0, 1]])
    turned = cv2.warpAffine(crop, turn[:2], (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    return turned, turn @ to_crop


def _crop_upright(rgb: np.ndarray, box, size: int):
    """The unturned crop: cut from the full-resolution photo and shrunk (area averaging)
    or grown to ``size`` pixels, padded by edge replication where it leaves the photo."""
    h, w = rgb.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = int(np.ceil(2.0 * max(box[2] - box[0], box[3] - box[1])))
    ix0, iy0 = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
    rx0, ry0 = max(ix0, 0), max(iy0, 0)
    rx1, ry1 = min(ix0 + side, w), min(iy0 + side, h)
    if rx1 - rx0 < 8 or ry1 - ry0 < 8:
        return None
    f = size / side
    sw = max(1, min(size, round((rx1 - rx0) * f)))
    sh = max(1, min(size, round((ry1 - ry0) * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    small = cv2.resize(rgb[ry0:ry1, rx0:rx1], (sw, sh), interpolation=interp)
    fx, fy = sw / (rx1 - rx0), sh / (ry1 - ry0)
    left = min(round((rx0 - ix0) * f), size - sw)
    top = min(round((ry0 - iy0) * f), size - sh)
    crop = cv2.copyMakeBorder(small, top, size - top - sh, left, size - left - sw, cv2.BORDER_REPLICATE)
    # area/bilinear resizing maps pixel centre x to (x - rx0 + 0.5) * fx - 0.5
    to_crop = np.array([[fx, 0, left + (0.5 - rx0) * fx - 0.5],
                        [0, fy, top + (0.5 - ry0) * fy - 0.5],
                        [0, 0, 1]])
    return crop, to_crop


def _shrink(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A square image shrunk to ``size`` (area averaging) and the ``(3, 3)`` map to it."""
    f = size / image.shape[0]
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return small, np.array([[f, 0, 0.5 * f - 0.5], [0, f, 0.5 * f - 0.5], [0, 0, 1]])


def _rot90_matrix(k: int, shape: tuple[int, int]) -> np.ndarray:
    """``(3, 3)`` map from pixels of an ``(h, w)`` image to pixels of ``np.rot90(image, k)``
    (counter-clockwise quarter turns, centres on integers)."""
    h, w = shape
    m = np.eye(3)
    for _ in range(k % 4):
        m = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]]) @ m
        h, w = w, h
    return m


def _apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:2, :2].T + m[:2, 2]


# --------------------------------------------------------------------------- geometry

def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two 2D vectors, degrees in ``[0, 180]``."""
    return float(np.degrees(np.arccos(np.clip(_unit(a) @ _unit(b), -1.0, 1.0))))


def _up(rotation: float) -> np.ndarray:
    """The image direction of "up" for a face rotated clockwise by ``rotation`` degrees."""
    t = np.radians(rotation)
    return np.array([np.sin(t), -np.cos(t)])


def _eye_centres(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The subject's right and left eye centres (mean of each eye's contour)."""
    return p[list(mesh.RIGHT_EYE)].mean(axis=0), p[list(mesh.LEFT_EYE)].mean(axis=0)


def _interocular(p: np.ndarray) -> float:
    right_eye, left_eye = _eye_centres(p)
    return float(np.linalg.norm(left_eye - right_eye))


def _roll_from_keypoints(kp: np.ndarray) -> float:
    up = (kp[0] + kp[1]) / 2 - kp[3]
    return float(np.degrees(np.arctan2(up[0], -up[1])))


def _roll(points: np.ndarray) -> float:
    """A fitted face's in-plane rotation from its landmarks, degrees clockwise."""
    right_eye, left_eye = _eye_centres(points)
    mouth = points[list(mesh.LIPS_OUTER)].mean(axis=0)
    up = (right_eye + left_eye) / 2 - mouth
    return float(np.degrees(np.arctan2(up[0], -up[1])))


def _box_from_landmarks(points: np.ndarray, rotation: float) -> tuple[float, float, float, float]:
    """A detector-like box for a face from its landmarks.

    The face oval's extent in the face's own frame gives the centre and size; the box is
    square and axis-aligned, the size a detector box of that face would have.
    """
    oval = points[list(mesh.FACE_OVAL)]
    up = _up(rotation)
    right = np.array([-up[1], up[0]])
    frame = np.stack([right, up])
    local = oval @ frame.T
    lo, hi = local.min(axis=0), local.max(axis=0)
    centre = ((lo + hi) / 2) @ frame
    side = _BOX_PER_OVAL * float(max(hi - lo))
    return (float(centre[0] - side / 2), float(centre[1] - side / 2),
            float(centre[0] + side / 2), float(centre[1] + side / 2))


def _jump(before: np.ndarray, after: np.ndarray) -> str | None:
    """Why a tracked fit cannot be the previous frame's face, or ``None``."""
    size_before = float(np.ptp(before[list(mesh.FACE_OVAL)], axis=0).max())
    size_after = float(np.ptp(after[list(mesh.FACE_OVAL)], axis=0).max())
    ratio = size_after / max(size_before, 1e-6)
    if not 0.6 < ratio < 1 / 0.6:
        return f"the face changed size by a factor of {ratio:.2f} between frames"
    shift = float(np.linalg.norm(after.mean(axis=0) - before.mean(axis=0)))
    if shift > 0.6 * size_before:
        return f"the face moved {shift / size_before:.2f} face widths between frames"
    return None

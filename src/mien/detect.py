"""Detect and fit: every face in a photo, 478 landmarks each (MediaPipe).

Detection runs MediaPipe's full-range face detector on a copy of the photo at most
:data:`DETECT_SIZE` pixels across; each detected face is then cropped from the full
resolution photo and MediaPipe's face mesh (with iris refinement) fits 478 landmarks on
the crop, so small faces in large photos keep their precision. Faces are numbered left
to right. :func:`fit` fits one face in a given box without detection, :func:`track`
follows a face from the previous video frame.

The models load on first use, once per process; every call is serialised by one lock
(MediaPipe graphs are not thread-safe).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import contextmanager

import cv2
import numpy as np

from .errors import MissingDependencyError
from .face import Face
from .image import as_rgb, to_uint8

log = logging.getLogger(__name__)

#: Longest side of the copy the detector sees.
DETECT_SIZE = 1024
#: Side of the square crop, in pixels, that the face mesh sees.
MESH_CROP = 512


@contextmanager
def _quiet_native_stderr():
    """Silence MediaPipe's C++ logging (it writes to file descriptor 2 directly)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


class _Models:
    """MediaPipe graphs, loaded on first use and shared (they are not thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._detectors: dict[int, object] = {}
        self._mesh = None

    def _mp(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - exercised only on broken installs
            raise MissingDependencyError(
                "mediapipe is not installed; run: .venv/bin/pip install --no-deps mediapipe==0.10.21"
            ) from exc
        return mp

    def detector(self, model: int):
        if model not in self._detectors:
            mp = self._mp()
            self._detectors[model] = mp.solutions.face_detection.FaceDetection(
                model_selection=model, min_detection_confidence=0.5
            )
        return self._detectors[model]

    def mesh(self):
        if self._mesh is None:
            mp = self._mp()
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=3, refine_landmarks=True,
                min_detection_confidence=0.4,
            )
        return self._mesh


_models = _Models()


def analyze(pixels: np.ndarray) -> tuple[Face, ...]:
    """Find and fit every face in a photo.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` or ``uint16`` RGB.

    Returns:
        Faces numbered left to right; empty if there is none. Nothing is cached here:
        :class:`mien.session.Session` analyses a photo once and keeps the result.
    """
    pixels = as_rgb(pixels, "photo")
    with _models.lock, _quiet_native_stderr():
        return _analyze(to_uint8(pixels))


def _analyze(rgb: np.ndarray) -> tuple[Face, ...]:
    h, w = rgb.shape[:2]
    boxes = _detect(rgb)
    fitted: list[tuple[np.ndarray, tuple, float]] = []
    for box, score in boxes:
        lm = _fit_mesh(rgb, box)
        if lm is None:
            continue
        # Two detections of one face give the same mesh: keep the first.
        if any(np.median(np.linalg.norm(lm[:, :2] - f[0][:, :2], axis=1)) < 0.05 * _extent(lm) for f in fitted):
            continue
        fitted.append((lm, box, score))
    fitted.sort(key=lambda f: f[0][:, 0].mean())
    return tuple(
        Face(i, lm.astype(np.float32), tuple(float(v) for v in box), float(score), (h, w))
        for i, (lm, box, score) in enumerate(fitted)
    )


def _extent(lm: np.ndarray) -> float:
    return float(np.ptp(lm[:, 0]) + 1.0)


def _detect(rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
    """Face boxes ``(x0, y0, x1, y1)`` in full-resolution pixels, with scores."""
    h, w = rgb.shape[:2]
    small = rgb
    while max(small.shape[:2]) > 2 * DETECT_SIZE:  # halve with a proper low-pass first
        small = cv2.pyrDown(small)
    f = min(1.0, DETECT_SIZE / max(small.shape[:2]))
    if f < 1:
        small = cv2.resize(small, (round(small.shape[1] * f), round(small.shape[0] * f)),
                           interpolation=cv2.INTER_LINEAR)
    found = []
    for model in (1, 0):  # full range first, short range for faces that fill the frame
        result = _models.detector(model).process(small)
        for det in result.detections or ():
            bb = det.location_data.relative_bounding_box
            box = (bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h)
            if all(_iou(box, other) < 0.3 for other, _ in found):
                found.append((box, float(det.score[0])))
    return found


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _fit_mesh(rgb: np.ndarray, box) -> np.ndarray | None:
    """Fit 478 landmarks on a square crop around a detector box; ``None`` if the mesh fails.

    The crop is cut from the full-resolution photo and shrunk (area averaging) or grown to
    ``MESH_CROP`` pixels, padded by edge replication where it leaves the photo; only the
    region of interest is ever resampled, so a 100-megapixel photo costs no more.
    """
    h, w = rgb.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = int(np.ceil(2.0 * max(box[2] - box[0], box[3] - box[1])))
    ix0, iy0 = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
    rx0, ry0 = max(ix0, 0), max(iy0, 0)
    rx1, ry1 = min(ix0 + side, w), min(iy0 + side, h)
    if rx1 - rx0 < 8 or ry1 - ry0 < 8:
        return None
    f = MESH_CROP / side
    sw = max(1, min(MESH_CROP, round((rx1 - rx0) * f)))
    sh = max(1, min(MESH_CROP, round((ry1 - ry0) * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    small = cv2.resize(rgb[ry0:ry1, rx0:rx1], (sw, sh), interpolation=interp)
    fx, fy = sw / (rx1 - rx0), sh / (ry1 - ry0)
    left = min(round((rx0 - ix0) * f), MESH_CROP - sw)
    top = min(round((ry0 - iy0) * f), MESH_CROP - sh)
    crop = cv2.copyMakeBorder(small, top, MESH_CROP - top - sh, left, MESH_CROP - left - sw,
                              cv2.BORDER_REPLICATE)
    result = _models.mesh().process(crop)
    if not result.multi_face_landmarks:
        return None
    best, best_d = None, np.inf
    for lms in result.multi_face_landmarks:
        arr = np.array([(p.x, p.y, p.z) for p in lms.landmark], np.float64)
        d = np.linalg.norm(arr[:, :2].mean(axis=0) - 0.5)
        if d < best_d:
            best, best_d = arr, d
    # MediaPipe's normalised x * size has pixel centres at +0.5; ours are on integers.
    u = best[:, 0] * MESH_CROP - 0.5 - left
    v = best[:, 1] * MESH_CROP - 0.5 - top
    lm = np.empty_like(best)
    lm[:, 0] = rx0 + (u + 0.5) / fx - 0.5
    lm[:, 1] = ry0 + (v + 0.5) / fy - 0.5
    lm[:, 2] = best[:, 2] * MESH_CROP / fx
    return lm

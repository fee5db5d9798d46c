"""Detect and fit: every face in a photo, 478 landmarks each, head pose, region masks.

Detection runs MediaPipe's full-range face detector on a copy of the photo at most
:data:`DETECT_SIZE` pixels across; each detected face is then cropped from the full
resolution photo and MediaPipe's face mesh (with iris refinement) fits 478 landmarks on
the crop, so small faces in large photos keep their precision.

Faces are numbered left to right. Results are cached per photo content, so analysing the
same pixels twice costs one hash.

Landmark convention: ``(x, y, z)`` ``float32`` pixels of the full photo; ``z`` is depth in
the same pixel units, larger is farther from the camera, relative to the face's centre.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import zlib
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from . import mesh
from .errors import MissingDependencyError
from .image import as_rgb, to_uint8

log = logging.getLogger(__name__)

#: Longest side of the copy the detector sees.
DETECT_SIZE = 1024
#: Side of the square crop, in pixels, that the face mesh sees.
MESH_CROP = 512
#: Faces narrower than this (landmark extent, pixels) are too small to edit.
MIN_FACE_SIZE = 64


@dataclass(frozen=True)
class HeadPose:
    """A face's rigid pose: ``landmarks ~= scale * rotation @ canonical + translation``.

    ``canonical`` is the canonical model in camera axes (x right, y down, z away from the
    camera). ``rotation`` is ``(3, 3)`` ``float64``, ``translation`` ``(3,)`` pixels,
    ``scale`` pixels per canonical unit.
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: float

    @property
    def angles(self) -> tuple[float, float, float]:
        """``(yaw, pitch, roll)`` in degrees: yaw positive when the face turns to the image's
        right, pitch positive when it looks down, roll positive clockwise in the image."""
        r = self.rotation
        yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1, 1)))
        pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
        roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
        return float(yaw), float(pitch), float(roll)


@dataclass(frozen=True, eq=False)
class Face:
    """One analysed face.

    Attributes:
        index: position in the photo's faces, numbered left to right from 0.
        landmarks: ``(478, 3)`` ``float32`` ``(x, y, z)`` pixels (module docstring).
        box: ``(x0, y0, x1, y1)`` detector box in pixels.
        score: detector confidence in ``[0, 1]``.
        image_size: ``(h, w)`` of the photo it was found in.
    """

    index: int
    landmarks: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    image_size: tuple[int, int]

    @property
    def points(self) -> np.ndarray:
        """``(478, 2)`` ``float32`` ``(x, y)`` pixels."""
        return self.landmarks[:, :2]

    @property
    def size(self) -> float:
        """Face width in pixels: the extent of the face-oval landmarks."""
        oval = self.points[list(mesh.FACE_OVAL)]
        return float(max(np.ptp(oval[:, 0]), 1.0))

    @property
    def interocular(self) -> float:
        """Distance between the outer eye corners, pixels."""
        a, b = mesh.EYE_OUTER_CORNERS
        return float(np.linalg.norm(self.points[a] - self.points[b]))

    @property
    def centre(self) -> np.ndarray:
        """``(2,)`` mean of the face-oval landmarks."""
        return self.points[list(mesh.FACE_OVAL)].mean(axis=0)

    @cached_property
    def pose(self) -> HeadPose:
        verts, _ = mesh.canonical()
        cam = verts * np.array([1.0, -1.0, -1.0])
        scale, rot, trans = similarity(cam, self.landmarks[: mesh.N_SURFACE].astype(np.float64))
        return HeadPose(rot, trans, scale)

    def polygon(self, region: str) -> np.ndarray:
        """``(K, 2)`` ``float32`` outline of a named region (see :data:`mesh.MASK_REGIONS`)."""
        p = self.points
        contours = {
            "lips": mesh.LIPS_OUTER,
            "mouth_interior": mesh.LIPS_INNER,
            "left_eye": mesh.LEFT_EYE,
            "right_eye": mesh.RIGHT_EYE,
            "left_brow": mesh.LEFT_BROW,
            "right_brow": mesh.RIGHT_BROW,
            "face_oval": mesh.FACE_OVAL,
        }
        if region in contours:
            return p[list(contours[region])]
        if region in ("left_iris", "right_iris"):
            idx = mesh.LEFT_IRIS if region == "left_iris" else mesh.RIGHT_IRIS
            centre = p[idx[0]]
            radius = np.linalg.norm(p[list(idx[1:])] - centre, axis=1).mean()
            t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
            return (centre + radius * np.stack([np.cos(t), np.sin(t)], 1)).astype(np.float32)
        if region == "nose":
            return cv2.convexHull(p[list(mesh.NOSE)].astype(np.float32))[:, 0]
        raise ValueError(f"unknown region {region!r}; valid: {', '.join(mesh.MASK_REGIONS)}")

    def mask(self, region: str, size: tuple[int, int] | None = None) -> np.ndarray:
        """Binary mask of a named region.

        Args:
            region: one of :data:`mesh.MASK_REGIONS`; ``skin`` is the face oval less eyes,
                brows and lips.
            size: ``(h, w)`` of the mask; the photo's size by default.

        Returns:
            ``(h, w)`` ``uint8``, 255 inside, 0 outside.
        """
        h, w = size or self.image_size
        out = np.zeros((h, w), np.uint8)
        if region == "skin":
            _fill(out, self.polygon("face_oval"), 255)
            for hole in ("left_eye", "right_eye", "left_brow", "right_brow", "lips"):
                _fill(out, self.polygon(hole), 0)
            return out
        _fill(out, self.polygon(region), 255)
        return out


def _fill(canvas: np.ndarray, polygon: np.ndarray, value: int) -> None:
    pts = np.round(polygon * 16).astype(np.int32)[None]
    cv2.fillPoly(canvas, pts, value, lineType=cv2.LINE_8, shift=4)


def similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None):
    """Least-squares similarity ``dst ~= s * R @ src + t`` (Umeyama 1991).

    Args:
        src, dst: ``(N, D)`` corresponding points.
        weights: optional ``(N,)`` non-negative weights.

    Returns:
        ``(s, R, t)``: scale, ``(D, D)`` proper rotation, ``(D,)`` translation.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    cov = (b * w[:, None]).T @ a
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(len(sig))
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var = (w * (a**2).sum(axis=1)).sum()
    scale = float((sig * d).sum() / var)
    return scale, rot, mu_d - scale * rot @ mu_s


# --------------------------------------------------------------------------- models

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
_cache: OrderedDict[str, tuple[Face, ...]] = OrderedDict()
_CACHE_SIZE = 16


def fingerprint(pixels: np.ndarray) -> str:
    """A content key of an image array: shape, dtype and a CRC-32 of every byte.

    CRC-32 runs at memory speed (15 ms on a 12-megapixel photo, a cryptographic hash takes
    five times longer); the key only guards a 16-entry cache of one process.
    """
    return f"{pixels.shape}{pixels.dtype.str}:{zlib.crc32(np.ascontiguousarray(pixels).data):08x}"


def analyze(pixels: np.ndarray) -> tuple[Face, ...]:
    """Find and fit every face in a photo.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` or ``uint16`` RGB.

    Returns:
        Faces numbered left to right; empty if there is none. Cached by content.
    """
    pixels = as_rgb(pixels, "photo")
    key = fingerprint(pixels)
    with _models.lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        with _quiet_native_stderr():
            faces = _analyze(to_uint8(pixels))
        _cache[key] = faces
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return faces


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

"""Expression code: compare faces free of head pose, and carry an expression across.

A face's landmarks are brought into another face's frame by the 3D similarity that best
aligns their *stable* points (forehead, temples, nose bridge: :data:`mesh.STABLE`), which
an expression barely moves. Whatever still differs after that alignment is expression
(and, between two people, face shape). This is the pose-free comparison ExSHOT makes
through its 3D face mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import mesh
from .face import Face, similarity

#: Points used to judge face *shape* (identity): stable points, nose, eye corners.
SHAPE_POINTS = tuple(sorted(set(mesh.STABLE) | set(mesh.NOSE) | {33, 133, 263, 362}))


def align_to(moving: np.ndarray, fixed: np.ndarray, indices=mesh.STABLE, iterations: int = 3) -> np.ndarray:
    """Bring ``moving`` landmarks into ``fixed``'s frame by a robust 3D similarity.

    Args:
        moving, fixed: ``(478, 3)`` landmarks (pixels, see :mod:`mien.face`).
        indices: the landmarks the similarity is fitted on.
        iterations: reweighting rounds that down-weight points that disagree.

    Returns:
        ``(478, 3)`` ``float64`` ``moving`` expressed in ``fixed``'s image frame.
    """
    idx = list(indices)
    src, dst = moving[idx].astype(np.float64), fixed[idx].astype(np.float64)
    weights = np.ones(len(idx))
    for _ in range(iterations):
        s, rot, t = similarity(src, dst, weights)
        res = np.linalg.norm((s * src @ rot.T + t) - dst, axis=1)
        scale = np.median(res) * 1.4826 + 1e-6
        weights = 1.0 / (1.0 + (res / (2.5 * scale)) ** 2)  # Cauchy weights
    s, rot, t = similarity(src, dst, weights)
    return s * moving.astype(np.float64) @ rot.T + t


def shape_distance(a: Face, b: Face) -> float:
    """How different two faces' shapes are, pose and expression aside.

    RMS distance of :data:`SHAPE_POINTS` (x, y) after aligning ``b`` onto ``a``, divided by
    ``a``'s inter-ocular distance. The same person measures about 0.01-0.03 here; see
    :data:`transfer.SAME_PERSON_LIMIT` for the threshold and how it was chosen.
    """
    moved = align_to(b.landmarks, a.landmarks, SHAPE_POINTS)
    idx = list(SHAPE_POINTS)
    rms = np.sqrt(((moved[idx, :2] - a.landmarks[idx, :2]) ** 2).sum(axis=1).mean())
    return float(rms / max(a.interocular, 1.0))


def retarget(pose: Face, expression: Face, weights: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Target landmarks: ``pose``'s face and head pose wearing ``expression``'s expression.

    Args:
        pose: the face that keeps its head pose, camera and identity.
        expression: the same person's face with the wanted expression.
        weights: ``(478,)`` in ``[0, 1]``: how much of the expression each landmark takes.
        strength: overall fraction in ``[0, 1]`` (geometry interpolated linearly).

    Returns:
        ``(478, 3)`` ``float64`` target landmarks in ``pose``'s image frame.
    """
    moved = align_to(expression.landmarks, pose.landmarks)
    base = pose.landmarks.astype(np.float64)
    w = (strength * np.asarray(weights, np.float64))[:, None]
    return base + w * (moved - base)


# ----------------------------------------------------------------- canonical frame

#: Camera axes (x right, y down, z away) <-> canonical axes (x right, y up, z toward viewer).
_FLIP = np.array([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Frame:
    """Where a face sits: ``landmarks ~= scale * rotation @ (canonical * FLIP) + translation``.

    Fitted on the stable points only, so an expression does not tilt the frame.
    ``rotation`` is ``(3, 3)``, ``translation`` ``(3,)`` pixels, ``scale`` pixels per
    canonical unit.
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def to_canonical(self, landmarks: np.ndarray) -> np.ndarray:
        """``(N, 3)`` image landmarks -> canonical coordinates."""
        return ((np.asarray(landmarks, np.float64) - self.translation) @ self.rotation / self.scale) * _FLIP

    def displacement_to_image(self, delta: np.ndarray) -> np.ndarray:
        """``(N, 3)`` canonical displacements -> image displacements (pixels)."""
        return self.scale * (np.asarray(delta, np.float64) * _FLIP) @ self.rotation.T

    def rotated(self, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> "Frame":
        """The same frame with the head turned by extra angles (degrees, see HeadPose)."""
        extra = rotation_matrix(yaw, pitch, roll)
        return Frame(self.scale, self.rotation @ extra, self.translation)


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``(3, 3)`` rotation in camera axes from yaw, pitch, roll in degrees."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def frame_of(landmarks: np.ndarray) -> Frame:
    """The canonical frame of ``(478, 3)`` landmarks, fitted robustly on stable points."""
    verts, _ = mesh.canonical()
    cam = verts.astype(np.float64) * _FLIP
    idx = list(mesh.STABLE)
    src, dst = cam[idx], np.asarray(landmarks, np.float64)[idx]
    weights = np.ones(len(idx))
    for _ in range(3):
        s, rot, t = similarity(src, dst, weights)
        res = np.linalg.norm(s * src @ rot.T + t - dst, axis=1)
        weights = 1.0 / (1.0 + (res / (2.5 * (np.median(res) * 1.4826 + 1e-6))) ** 2)
    s, rot, t = similarity(src, dst, weights)
    return Frame(s, rot, t)


def canonical_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """``(478, 3)`` landmarks in the canonical frame (units of the canonical model)."""
    return frame_of(landmarks).to_canonical(landmarks)

"""The Face record: one fitted face, its 478 landmarks, head pose and region masks.

Landmark convention: ``(x, y, z)`` ``float32`` pixels of the full photo; ``z`` is depth in
the same pixel units, larger is farther from the camera, relative to the face's centre.
Finding and fitting faces is :mod:`mien.detect`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from . import mesh
from .errors import InputError
from .geometry import similarity

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
        raise InputError(f"unknown region {region!r}; valid: {', '.join(mesh.MASK_REGIONS)}")

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

"""Draw what face analysis found: landmarks, named regions, head-pose axes, face numbers."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..face import Face
from ..image import to_uint8

_COLOURS = {
    "lips": (230, 60, 60),
    "mouth_interior": (255, 160, 0),
    "left_eye": (60, 200, 60),
    "right_eye": (60, 200, 60),
    "left_iris": (0, 220, 255),
    "right_iris": (0, 220, 255),
    "left_brow": (200, 80, 220),
    "right_brow": (200, 80, 220),
    "nose": (255, 230, 60),
    "face_oval": (255, 255, 255),
}


def overlay(pixels: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """Return an RGB copy of ``pixels`` with every face's analysis drawn on it.

    Args:
        pixels: ``(H, W, 3)`` ``uint8``/``uint16`` RGB.
        faces: from :func:`mien.detect.analyze`.

    Returns:
        ``(H, W, 3)`` ``uint8`` RGB.
    """
    img = np.ascontiguousarray(to_uint8(pixels).copy())
    for face in faces:
        scale = max(1.0, face.size / 300)
        thick = max(1, int(round(scale)))
        for x, y in face.points:
            cv2.circle(img, (int(round(x)), int(round(y))), thick, (180, 180, 180), -1, cv2.LINE_AA)
        for region, colour in _COLOURS.items():
            poly = np.round(face.polygon(region)).astype(np.int32)
            cv2.polylines(img, [poly], True, colour, thick, cv2.LINE_AA)
        # Head-pose axes from the nose tip: x red, y green, z (toward the camera) blue.
        pose = face.pose
        origin = face.points[1]
        length = 0.35 * face.size
        for axis, colour in ((np.array([1.0, 0, 0]), (255, 0, 0)), (np.array([0, -1.0, 0]), (0, 255, 0)),
                             (np.array([0, 0, -1.0]), (0, 0, 255))):
            tip = origin + length * (pose.rotation @ axis)[:2]
            cv2.arrowedLine(img, tuple(int(round(v)) for v in origin), tuple(int(round(v)) for v in tip),
                            colour, thick + 1, cv2.LINE_AA, tipLength=0.15)
        x0, y0 = face.points[:, 0].min(), face.points[:, 1].min()
        cv2.putText(img, str(face.index), (int(x0), int(max(0, y0 - 8 * scale))), cv2.FONT_HERSHEY_SIMPLEX,
                    1.2 * scale, (255, 255, 0), 2 * thick, cv2.LINE_AA)
    return img

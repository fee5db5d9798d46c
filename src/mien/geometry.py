"""Similarity fits between point sets: the one helper that head pose, expression frames and
alignment all use."""

from __future__ import annotations

import numpy as np


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


def robust_similarity(src: np.ndarray, dst: np.ndarray, iterations: int = 3):
    """:func:`similarity` with Cauchy reweighting, so that points that disagree (an
    expression moving some of them) barely pull the fit.

    Args:
        src, dst: ``(N, D)`` corresponding points.
        iterations: reweighting rounds.

    Returns:
        ``(s, R, t)`` as :func:`similarity`.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    weights = np.ones(len(src))
    for _ in range(iterations):
        s, rot, t = similarity(src, dst, weights)
        res = np.linalg.norm((s * src @ rot.T + t) - dst, axis=1)
        scale = np.median(res) * 1.4826 + 1e-6
        weights = 1.0 / (1.0 + (res / (2.5 * scale)) ** 2)
    return similarity(src, dst, weights)

"""The donor library: mouth interiors (teeth, tongue, shadow) for edits that open a mouth
when the user has no photo of their own with an open mouth.

Donors are lower-face crops of smiles from the Face Research Lab London Set (CC BY 4.0,
DeBruine & Jones 2017) with their landmarks (``scripts/build_donors.py``). The donor whose
lip shape best matches is warped into the target's lip contour by the
same mesh warp as everything else. Each donor carries its own eye whites' colour (measured
on its full photo): the renderer keeps the teeth's colour relative to them and carries it
over to the edited photo's eye whites (:func:`mien.texture.white_gain`), so the teeth take
the photo's white balance and exposure. Donors come only from the even-indexed London
people (sorted names ``[0::2]``); the odd-indexed ones are held out for evaluation.
The donor is chosen by the edited face's own lip shape, so a sweep of intensities keeps
one donor.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from io import BytesIO

import numpy as np
from PIL import Image

from . import mesh
from .expression import align_to
from .face import Face
from .geometry import similarity
from .scene import Layer
from .sclera import Sclera

#: Donor names never to use (an evaluation leaves the person it tests on out).
EXCLUDED: set[str] = set()


@lru_cache(maxsize=1)
def _library():
    with resources.files("mien").joinpath("data/donors.npz").open("rb") as fh:
        data = np.load(fh)
        return (data["jpeg"].tobytes(), data["offsets"], data["landmarks"].astype(np.float64),
                [str(n) for n in data["names"]])


@lru_cache(maxsize=1)
def _whites() -> list[Sclera]:
    """Each donor's eye whites and cheeks (linear RGB) as measured on its full photo."""
    with resources.files("mien").joinpath("data/donors.npz").open("rb") as fh:
        data = np.load(fh)
        return [Sclera(c.astype(np.float64), float(q), 0, 0.0, k.astype(np.float64))
                for c, q, k in zip(data["sclera"], data["sclera_confidence"], data["skin"])]


@lru_cache(maxsize=32)
def _pixels(i: int) -> np.ndarray:
    blob, offsets, _, _ = _library()
    with Image.open(BytesIO(blob[offsets[i]:offsets[i + 1]])) as im:
        return np.asarray(im.convert("RGB"))


def _lip_shape(points: np.ndarray) -> np.ndarray:
    """Inner and outer lip contours, similarity-normalised: ``(40, 2)``."""
    idx = list(mesh.LIPS_INNER) + list(mesh.LIPS_OUTER)
    p = points[idx, :2].astype(np.float64)
    p = p - p.mean(axis=0)
    return p / np.sqrt((p**2).sum(axis=1).mean())


def choose(target: np.ndarray) -> int:
    """Index of the donor whose lip shape is closest to ``target`` (478 landmarks)."""
    _, _, landmarks, names = _library()
    want = _lip_shape(target)
    best, best_err = 0, np.inf
    for i, lm in enumerate(landmarks):
        if names[i] in EXCLUDED:
            continue
        have = _lip_shape(lm)
        s, rot, t = similarity(have, want)
        err = np.linalg.norm(s * have @ rot.T + t - want, axis=1).mean()
        if err < best_err:
            best, best_err = i, err
    return best


def donor_layer(face: Face, target: np.ndarray, weights: np.ndarray, donor: int) -> Layer:
    """A texture layer from donor number ``donor`` for ``face`` moving to ``target``.

    Args:
        face: the face being edited.
        target: ``(478, 3)`` its target landmarks (pixels).
        weights: ``(478,)`` texture weight per landmark.
        donor: from :func:`choose` on the face's own landmarks (not the target's), so a
            sweep of intensities keeps one donor; a session remembers it per face.
    """
    _, _, landmarks, _ = _library()
    i = donor
    pixels = _pixels(i)
    lm = landmarks[i].astype(np.float64)
    # A target opened wider than the donor's own mouth: keep the donor's teeth at their
    # natural size under the upper lip by moving its lower inner lip down in its own
    # photo by the same ratio; the renderer darkens what lies beyond into a cavity.
    iod = float(np.linalg.norm(lm[33, :2] - lm[263, :2]))
    donor_open = float(np.linalg.norm(lm[13, :2] - lm[14, :2])) / max(iod, 1.0)
    target_open = float(np.linalg.norm(target[13, :2] - target[14, :2])) / max(face.interocular, 1.0)
    ratio = target_open / max(donor_open, 1e-3)
    if ratio > 1.0:
        for upper, lower in mesh.INNER_LIP_PAIRS:
            lm[lower, :2] = lm[upper, :2] + ratio * (lm[lower, :2] - lm[upper, :2])
    lm = lm.astype(np.float32)
    donor_face = Face(0, lm, (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()),
                         float(lm[:, 1].max())), 1.0, pixels.shape[:2])
    return Layer(pixels, donor_face, weights, align_to(lm, face.landmarks), own_person=False,
                 feather=1 / 300, cavity=max(ratio, 0.0), white=_whites()[i])

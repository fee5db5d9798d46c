"""The donor library: mouth interiors (teeth, tongue, shadow) for edits that open a mouth
when the user has no photo of their own with an open mouth.

Donors are lower-face crops of smiles from the Face Research Lab London Set (CC BY 4.0,
DeBruine & Jones 2017) with their landmarks (``scripts/build_donors.py``). Among the donors
with a broad, teeth-showing opening (:data:`BROAD`), the one whose outer lip shape best
matches the edited face's OWN lips is chosen once per face (:func:`choose`; a sweep of
intensities keeps one donor) and warped into the target's lip contour by the same mesh warp
as everything else, its teeth kept at natural size whatever the target's opening
(:func:`donor_layer`). Each donor carries its own eye whites' colour (measured
on its full photo): the renderer keeps the teeth's colour relative to them and carries it
over to the edited photo's eye whites (:func:`mien.texture.white_gain`), so the teeth take
the photo's white balance and exposure. Donors come only from the even-indexed London
people (sorted names ``[0::2]``); the odd-indexed ones are held out for evaluation.
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
    """Outer lip contour, similarity-normalised: ``(20, 2)``. (The inner contour of the
    edited face's own, usually closed, mouth says nothing about the teeth it will show.)"""
    p = points[list(mesh.LIPS_OUTER), :2].astype(np.float64)
    p = p - p.mean(axis=0)
    return p / np.sqrt((p**2).sum(axis=1).mean())


def relative_opening(points: np.ndarray) -> float:
    """The mouth's inner opening (landmarks 13-14) over its width (outer corners 61-291).

    The donor is warped into the target's lips, so its teeth take the target's mouth width;
    the openings compared as fractions of the width keep the teeth's aspect (natural size).
    """
    p = np.asarray(points, np.float64)[:, :2]
    return float(np.linalg.norm(p[13] - p[14]) / max(np.linalg.norm(p[61] - p[291]), 1e-6))


#: A donor is chosen only if its opening is at least this fraction of its mouth width: a
#: broad smile (intensity 1 opens the mouth to ~0.15-0.18 of its width) is then filled by
#: the donor's teeth at their natural size, not by a dark cavity.
BROAD = 0.16
#: How much taller than natural a donor's teeth may be drawn before the opening beyond
#: them becomes a cavity (with the donor's lower part along the lower lip).
STRETCH = 1.15
#: Donors kept in the library but never chosen: london-103 has a visibly discoloured front
#: tooth that would be copied into every face it was chosen for.
UNCHOSEN = frozenset({"london-103"})


def choose(target: np.ndarray) -> int:
    """Index of the donor for a face with landmarks ``target`` ``(478, 2+)`` (its own,
    unedited ones, so that every intensity of a sweep keeps the one donor).

    Among the donors with a broad, teeth-showing opening (:data:`BROAD`), the one whose
    outer lip shape (similarity-normalised: position, size and roll ignored) is closest;
    deterministic. If none is broad enough (a reduced library), all are considered.
    """
    _, _, landmarks, names = _library()
    want = _lip_shape(target)
    allowed = [i for i, n in enumerate(names) if n not in EXCLUDED and n not in UNCHOSEN]
    broad = [i for i in allowed if relative_opening(landmarks[i]) >= BROAD]
    best, best_err = (broad or allowed or [0])[0], np.inf
    for i in broad or allowed:
        have = _lip_shape(landmarks[i])
        s, rot, t = similarity(have, want)
        err = np.linalg.norm(s * have @ rot.T + t - want, axis=1).mean()
        if err < best_err:
            best, best_err = i, err
    return best


def natural_size(landmarks: np.ndarray, ratio: float) -> np.ndarray:
    """A donor's landmarks with its lower inner lip moved so that its opening is ``ratio``
    times its own, the upper inner lip kept: ``(478, 3)`` ``float64``.

    Warped onto a target whose opening is ``ratio`` times the donor's (relative to mouth
    width), the upper teeth then keep their natural size under the upper lip: a narrower
    target shows the upper part of the donor's opening (the lower lip covers the rest), a
    wider one shows all of it and more (the renderer fills the rest, :attr:`Layer.cavity`).
    """
    lm = np.asarray(landmarks, np.float64).copy()
    for upper, lower in mesh.INNER_LIP_PAIRS:
        lm[lower, :2] = lm[upper, :2] + ratio * (lm[lower, :2] - lm[upper, :2])
    return lm


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
    # Teeth at their natural size whatever the target's opening: the target's opening (as
    # a fraction of its mouth width) over the donor's says how much of the donor's opening
    # it shows under the upper lip (ratio < 1). Up to STRETCH the donor's whole opening is
    # stretched onto the target's (teeth that much taller: people's teeth differ more than
    # that); beyond it the renderer shows the donor's lower part along the lower lip and a
    # cavity between (Layer.cavity: the ratio left).
    ratio = relative_opening(target) / max(relative_opening(landmarks[i]), 1e-3)
    ratio = float(np.clip(ratio, 0.05, 20.0))
    left = ratio if ratio <= 1.0 else max(1.0, ratio / STRETCH)
    lm = natural_size(landmarks[i], left)
    lm = lm.astype(np.float32)
    donor_face = Face(0, lm, (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()),
                         float(lm[:, 1].max())), 1.0, pixels.shape[:2])
    return Layer(pixels, donor_face, weights, align_to(lm, face.landmarks), own_person=False,
                 feather=1 / 300, cavity=left, white=_whites()[i])

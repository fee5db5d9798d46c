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

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from io import BytesIO

import numpy as np
from PIL import Image

from . import mesh
from .expression import align_to
from .face import Face
from .geometry import similarity
from .retarget import face_down, opening
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
    """Inner then outer lip contour (``mesh.LIPS_INNER``, ``mesh.LIPS_OUTER``),
    similarity-normalised: ``(40, 2)``. ``points``: ``(478, 2+)`` landmarks or ``(40, 2+)``
    lips already in that order."""
    p = np.asarray(points, np.float64)[:, :2]
    if len(p) != 40:
        p = p[list(mesh.LIPS_INNER) + list(mesh.LIPS_OUTER)]
    p = p - p.mean(axis=0)
    return p / np.sqrt((p**2).sum(axis=1).mean())


@lru_cache(maxsize=1)
def _neutral_lips() -> np.ndarray | None:
    """``(N, 40, 2)`` each donor's lips on its own neutral photo, or ``None`` (older library)."""
    with resources.files("mien").joinpath("data/donors.npz").open("rb") as fh:
        data = np.load(fh)
        return data["neutral_lips"].astype(np.float64) if "neutral_lips" in data.files else None


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
    own NEUTRAL lips (inner and outer contour, similarity-normalised: position, size and
    roll ignored) are closest to the face's lips: a person with a similar mouth. (Matching
    against the donors' smiling lips instead picked the least-smiling donor for nearly
    every neutral face.) Deterministic. If none is broad enough (a reduced library), all
    are considered.
    """
    _, _, landmarks, names = _library()
    neutral = _neutral_lips()
    want = _lip_shape(target)
    allowed = [i for i, n in enumerate(names) if n not in EXCLUDED and n not in UNCHOSEN]
    broad = [i for i in allowed if relative_opening(landmarks[i]) >= BROAD]
    best, best_err = (broad or allowed or [0])[0], np.inf
    for i in broad or allowed:
        have = _lip_shape(neutral[i] if neutral is not None else landmarks[i])
        s, rot, t = similarity(have, want)
        err = np.linalg.norm(s * have @ rot.T + t - want, axis=1).mean()
        if err < best_err:
            best, best_err = i, err
    return best


def natural_size(landmarks: np.ndarray, ratio: float, start: float = 0.0) -> np.ndarray:
    """A donor's landmarks with its inner lips moved along the opening: ``(478, 3)``
    ``float64``.

    Each upper inner lip landmark goes ``start`` of the way from the upper to the lower
    inner lip and each lower one to ``start + ratio`` of it (fractions of the donor's own
    opening, per :data:`mesh.INNER_LIP_PAIRS`). Warped onto a target whose opening is
    ``ratio`` times the donor's (relative to mouth width), what the donor shows keeps its
    natural size: ``start`` > 0 hides the top of its opening under the target's upper lip,
    ``ratio`` < 1 hides the bottom under the lower lip (rather than squashing the donor's
    whole opening into a slit), ``start + ratio`` > 1 reaches past its lower lip (the
    renderer fills that, :class:`DonorLayer`).
    """
    lm = np.asarray(landmarks, np.float64).copy()
    for upper, lower in mesh.INNER_LIP_PAIRS:
        up, lo = lm[upper, :2].copy(), lm[lower, :2].copy()
        lm[upper, :2] = up + start * (lo - up)
        lm[lower, :2] = up + (start + ratio) * (lo - up)
    return lm


#: How much taller a face's own visible teeth may be drawn when its upper lip rises
#: (:func:`own_mouth_layer`).
OWN_STRETCH = 1.4

#: How far below the upper inner lip's rest position (the face's own, unedited lips) the
#: upper incisors' edges sit, in inter-ocular distances. Measured on the even-indexed
#: (training) London people whose smile opens >= 0.12 IOD (094 103 120 126 130: visible
#: upper teeth minus the upper lip's rise from neutral, median 0.086; over all 16 smiles
#: showing teeth 0.056, where the lower lip hides some). A target shows the upper teeth from
#: its upper lip down to there: all of them in a broad smile (lip raised), a strip under the
#: lip in a dropped jaw (aaa, surprise).
INCISAL_EDGE = 0.08


@lru_cache(maxsize=64)
def row_gap(donor: int) -> float:
    """Where donor ``donor``'s upper teeth end, as a fraction of its opening from its
    upper inner lip (:func:`teeth_gap`)."""
    _, _, landmarks, _ = _library()
    return teeth_gap(_pixels(donor), landmarks[donor])


def teeth_gap(pixels: np.ndarray, landmarks: np.ndarray) -> float:
    """Where the upper teeth of the open mouth in ``pixels`` (``(H, W, 3)`` RGB, any
    integer dtype) with ``landmarks`` ``(478, 2+)`` end, as a fraction of the opening from
    the upper inner lip: the darkest row of the opening's middle (between the tooth rows,
    or just above the lower lip if no lower teeth show), searched in ``[0.45, 0.95]``."""
    p = np.asarray(landmarks, np.float64)[:, :2]
    h, w = pixels.shape[:2]
    fractions = np.linspace(0.0, 1.0, 41)
    profiles = []
    for upper, lower in mesh.INNER_LIP_PAIRS[:5]:  # the middle of the mouth
        xy = p[upper] + fractions[:, None] * (p[lower] - p[upper])
        xs = np.clip(np.round(xy[:, 0]).astype(int), 0, w - 1)
        ys = np.clip(np.round(xy[:, 1]).astype(int), 0, h - 1)
        # Only the sampled pixels are converted (a request on a 24 MP photo would
        # otherwise make a float copy of the whole photo).
        profiles.append(pixels[ys, xs].astype(np.float64) @ [0.299, 0.587, 0.114])
    profile = np.convolve(np.median(profiles, axis=0), np.ones(3) / 3, mode="same")
    search = (fractions >= 0.45) & (fractions <= 0.95)
    return float(fractions[search][np.argmin(profile[search])])


@dataclass(frozen=True, eq=False)
class DonorLayer(Layer):
    """A donor mouth (:class:`~mien.scene.Layer`, ``own_person=False``) fitted to a target
    opening at natural size. ``face`` holds the donor's landmarks anchored for the upper
    teeth (:func:`natural_size`); ``cavity`` is the target's opening over the donor's.

    Attributes:
        lower_points: ``(478, 2)`` ``float64`` the donor's landmarks anchored at its lower
            inner lip instead (its lower part, lower teeth and lower lip at natural size
            along the target's lower lip).
        teeth_end: where the upper teeth end, as a fraction of the target's opening from
            its upper inner lip (may exceed 1: the lower lip covers the rest).
        lower_start: from where the lower-anchored texture is the donor's lower part (its
            opening below :func:`row_gap`), same units. Between ``teeth_end`` and
            ``lower_start`` lies the open oral cavity (:func:`mien.render._oral_cavity`).
    """

    lower_points: np.ndarray | None = None
    teeth_end: float = 1.0
    lower_start: float = 1.0


def donor_layer(face: Face, target: np.ndarray, weights: np.ndarray, donor: int) -> DonorLayer:
    """A texture layer from donor number ``donor`` for ``face`` moving to ``target``.

    The target's opening relative to its mouth width over the donor's gives the scale
    (``ratio``: a target depth unit is ``ratio`` donor opening units; above 1 up to
    :data:`STRETCH` the donor's teeth are drawn that much taller instead). The upper teeth
    show from the target's upper inner lip down to the incisal edge (:data:`INCISAL_EDGE`
    below the face's own upper lip): in a broad smile the whole donor crown, in a dropped
    jaw only its lower edge. Beyond the teeth, the donor's lower part follows the target's
    lower lip and what neither covers is the cavity.

    Args:
        face: the face being edited (its own landmarks: where the lips rest).
        target: ``(478, 3)`` its target landmarks (pixels).
        weights: ``(478,)`` texture weight per landmark.
        donor: from :func:`choose` on the face's own landmarks (not the target's), so a
            sweep of intensities keeps one donor; a session remembers it per face.
    """
    _, _, landmarks, _ = _library()
    i = donor
    pixels = _pixels(i)
    own = landmarks[i].astype(np.float64)
    ratio = relative_opening(target) / max(relative_opening(own), 1e-3)
    ratio = float(np.clip(ratio, 0.05, 20.0))
    scale = ratio if ratio <= 1.0 else max(1.0, ratio / STRETCH)
    split = row_gap(i)
    # How much upper tooth the target shows below its upper inner lip: the lip's rise from
    # the face's own rest position along the face's vertical, plus the incisal edge's depth.
    iod = max(face.interocular, 1.0)
    # Along the face's own vertical (up the image in a photo turned over).
    rest = face.landmarks[13, :2].astype(np.float64)
    shown = ((rest - target[13, :2]) @ face_down(face.landmarks)) / iod + INCISAL_EDGE
    target_open = max(float(np.linalg.norm(target[13, :2] - target[14, :2])) / iod, 1e-3)
    start = float(np.clip(split - max(shown, 0.0) / target_open * scale, 0.0, split))
    teeth_end = (split - start) / scale
    lower_start = 1.0 - (1.0 - split) / scale
    lm = natural_size(own, scale, start).astype(np.float32)
    lower = natural_size(own, scale, 1.0 - scale)[:, :2]
    donor_face = Face(0, lm, (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()),
                         float(lm[:, 1].max())), 1.0, pixels.shape[:2])
    return DonorLayer(pixels, donor_face, weights, align_to(lm, face.landmarks), own_person=False,
                      feather=1 / 300, cavity=scale, white=_whites()[i], lower_points=lower,
                      teeth_end=teeth_end, lower_start=lower_start)


def own_mouth_layer(face: Face, pixels: np.ndarray, target: np.ndarray, weights: np.ndarray,
                    white: Sclera | None = None) -> DonorLayer:
    """The face's OWN open mouth as the texture of a wider opening (a talking or smiling
    face already shows its teeth: another person's would replace them).

    As :func:`donor_layer` with the photo itself as donor: the upper teeth hang from the
    upper lip, drawn up to :data:`OWN_STRETCH` taller as the lip rises (their edge stays
    near where it was), the lower part (lower teeth, tongue) follows the lower lip, and
    what lies between is the cavity. The colour passes unchanged (the same photo:
    ``white`` is both the source's and the target's).

    Args:
        face: the face being edited; its mouth must be open.
        pixels: ``(H, W, 3)`` the photo it is in.
        target: ``(478, 3)`` its target landmarks (pixels).
        weights: ``(478,)`` texture weight per landmark.
        white: the face's eye whites (a session measures them once).
    """
    own = face.landmarks.astype(np.float64)
    ratio = float(np.clip(relative_opening(target) / max(relative_opening(own), 1e-3), 0.05, 20.0))
    split = teeth_gap(pixels, own)
    # Real upper teeth are fixed to the skull: a rising upper lip uncovers more of them,
    # which the photo does not show. Its visible crown is drawn taller instead (up to
    # OWN_STRETCH) so that its edge stays near where it was, rather than riding up with
    # the lip over a dark gap.
    iod = max(face.interocular, 1.0)
    rise = float((own[13, :2] - target[13, :2]) @ face_down(own)) / iod
    crown = split * max(opening(own, iod), 1e-3)
    stretch = float(np.clip((crown + max(rise, 0.0)) / crown, 1.0, OWN_STRETCH))
    scale = ratio / stretch if ratio / stretch <= 1.0 else max(1.0, ratio / max(STRETCH, stretch))
    lm = natural_size(own, scale).astype(np.float32)
    source = Face(0, lm, face.box, face.score, pixels.shape[:2])
    return DonorLayer(pixels, source, weights, own, own_person=False, feather=1 / 300, cavity=scale,
                      white=white, target_white=white, lower_points=natural_size(own, scale, 1.0 - scale)[:, :2],
                      teeth_end=split / scale, lower_start=1.0 - (1.0 - split) / scale)

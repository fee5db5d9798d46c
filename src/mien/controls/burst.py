"""Control ``burst``: take the expression from other shots of the same person (ExSHOT).

The pose photo ``P`` gives head pose, background, lighting and identity; expression
photos ``E`` of the same person give the expression, each for some regions ("eyes from
shot 2, mouth from shot 5"). E's landmarks are aligned into P's frame on the points an
expression does not move (:mod:`mien.expression`), mixed into P's landmarks region by
region, and each E becomes a texture layer over those regions: P warped to the new
geometry everywhere, E's own pixels (teeth, mouth interior, eyes, creases) inside the
transferred regions, lit to match P (:mod:`mien.render`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import mesh
from ..errors import FaceMismatchError, InputError
from ..expression import align_to
from ..scene import Layer, Scene

if TYPE_CHECKING:
    from ..session import FaceState, Session

#: An expression photo whose face is smaller than this fraction of the pose photo's face
#: would paste visibly blurry texture; refused unless forced.
MIN_RELATIVE_SIZE = 0.35


def parse_regions(regions: str | Sequence[str]) -> tuple[str, ...]:
    """``"mouth,eyes"`` or ``["mouth", "eyes"]`` to a validated tuple.

    Raises:
        InputError: an empty or unknown region.
    """
    items = [r.strip().lower() for r in (regions.split(",") if isinstance(regions, str) else regions)]
    items = [r for r in items if r]
    allowed = ", ".join(mesh.TRANSFER_REGIONS)
    if not items:
        raise InputError(f"no region given; choose from {allowed}", param="regions", allowed=allowed)
    for r in items:
        if r not in mesh.TRANSFER_REGIONS:
            raise InputError(f"unknown region {r!r}; choose from {allowed}", param="regions", allowed=allowed)
    return ("all",) if "all" in items else tuple(dict.fromkeys(items))


def region_mix(regions: tuple[str, ...]) -> np.ndarray:
    """``(478,)`` combined weight of several regions (their maximum)."""
    return np.max([mesh.region_weights(r) for r in regions], axis=0)


@dataclass(frozen=True, eq=False)
class Shot:
    """One expression photo of a burst and the regions taken from it."""

    session: "Session"
    regions: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "regions", parse_regions(self.regions))


@dataclass(frozen=True, eq=False)
class Burst:
    """Put the expression of other shots of the same person on a face.

    Attributes:
        shots: the expression photos, each with its regions.
        strength: in ``[0, 1]``: 0 changes nothing, 1 the full expression; geometry is
            interpolated and texture blended.
        refine: align each shot's texture seams to the warped photo with optical flow.
        force: transfer even when the faces look like different people or a shot's face
            is much smaller.
        check_identity: refuse a shot whose face looks like a different person (unless
            ``force``). ``False`` leaves that check to the caller, who must then make it
            (:meth:`FaceState.check_same_person`) before using the result:
            :func:`mien.api.transfer_files` makes it while the render runs.
    """

    shots: tuple[Shot, ...]
    strength: float = 1.0
    refine: bool = True
    force: bool = False
    check_identity: bool = True

    def __post_init__(self):
        if not self.shots:
            raise InputError("no expression photo given", param="expression")
        try:
            s = float(self.strength)
        except (TypeError, ValueError):
            s = float("nan")
        if not 0.0 <= s <= 1.0:
            raise InputError(f"strength must be between 0 and 1, got {self.strength}",
                             param="strength", allowed="0 to 1")
        object.__setattr__(self, "strength", s)
        object.__setattr__(self, "shots", tuple(self.shots))

    def partners(self, state: "FaceState") -> list[tuple["FaceState", Shot]]:
        """Each shot's face that partners ``state``, checked to be usable.

        Raises:
            NoFaceError: a shot has no face.
            FaceMismatchError: no partner, an ambiguous pairing, or a different person.
            InputError: a shot's face is too small for its texture to look sharp.
        """
        out = []
        for shot in self.shots:
            pairs = state.session.partners(shot.session)
            if state.index not in pairs:
                raise FaceMismatchError(
                    f"face {state.index} of the {state.session.name} has no partner in the "
                    f"{shot.session.name} ({len(shot.session.faces)} face(s) there); choose another with --face",
                    param="face")
            partner = shot.session.faces[pairs[state.index]]
            if not self.force:
                ratio = partner.face.size / state.face.size
                if ratio < MIN_RELATIVE_SIZE:
                    raise InputError(
                        f"the face in the {shot.session.name} is {partner.face.size:.0f} px wide against "
                        f"{state.face.size:.0f} px in the {state.session.name}, so its texture would look "
                        "blurry; use a larger photo or --force", param="expression")
                if self.check_identity:
                    state.check_same_person(partner, shot.session.name)
            out.append((partner, shot))
        return out

    def scene(self, state: "FaceState") -> Scene:
        """Target landmarks mixed region by region, one texture layer per shot."""
        face = state.face
        partners = self.partners(state)  # checked even when nothing will change
        target = face.landmarks.astype(np.float64).copy()
        if self.strength == 0:
            return Scene(face, target)
        layers = []
        mixes = []
        for partner, shot in partners:
            w = region_mix(shot.regions)
            moved = align_to(partner.face.landmarks, face.landmarks)
            # Geometry: each shot moves its own regions; overlapping weights are shared.
            target += self.strength * w[:, None] * (moved - face.landmarks)
            mixes.append(w)
            layers.append(Layer(partner.pixels, partner.face, self.strength * w, moved))
        total = np.sum(mixes, axis=0)
        over = total > 1
        if over.any():
            # Where regions of different shots overlap, average their motions.
            target[over] = face.landmarks[over] + (target[over] - face.landmarks[over]) / total[over, None]
        return Scene(face, target, tuple(layers), refine=self.refine)

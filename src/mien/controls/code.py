"""Controls ``emotion``, ``au``, sliders, ``magnify``, ``keep``, saved expressions: edit
one photo by its expression code.

A :class:`Request` becomes a change of the face's expression code (seed 001's latent
arithmetic, seed 003's emotion and intensity, seed 004's Action Units), which
:mod:`mien.retarget` turns into target landmarks in the photo's head pose: deformation
first (seed 004). Where warping cannot show the target (an open mouth from a closed one),
mouth-interior texture comes from a reference photo of the same person, else from the
donor library (:mod:`mien.donors`), behind a soft mask; a smile brings its shading
(:mod:`mien.shading`). The result is a :class:`~mien.scene.Scene`.

Left and right are the subject's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .. import donors, eyes, mesh, shading
from ..errors import InputError
from ..expression import EMOTION_NAMES, MAX_INTENSITY, Expression, align_to, emotion_code, model
from ..retarget import fit_eye_closure, opening, target_landmarks
from ..scene import Layer, Scene
from .registry import BY_NAME, MOVING, ROTATIONS

if TYPE_CHECKING:
    from ..session import FaceState, Session

#: Added mouth opening (inter-ocular units) at which mouth-interior texture is fully in.
OPENING_FOR_TEXTURE = 0.03


def _check_au(au: Mapping[str, float]) -> dict[str, float]:
    directions = model().directions
    valid = [n for n in directions if n[0].isdigit()]
    out = {}
    for name, value in au.items():
        key = str(name).strip().upper().removeprefix("AU")
        if key not in directions or not key[0].isdigit():
            raise InputError(f"unknown Action Unit {name!r}; valid: {', '.join(valid)}",
                             param="au", allowed=", ".join(valid))
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"AU {name} intensity must be a number, got {value!r}", param="au") from None
        if not 0.0 <= v <= MAX_INTENSITY:
            raise InputError(f"AU {name} intensity must be between 0 and {MAX_INTENSITY:g}, got {value}",
                             param="au", allowed=f"0 to {MAX_INTENSITY:g}")
        out[key] = v
    return out


@dataclass(frozen=True)
class Request:
    """Everything asked of one face in a single-photo edit, validated. Amounts add up
    (seed 001's latent arithmetic).

    Attributes:
        emotion: one of :data:`mien.expression.EMOTION_NAMES`, or ``None``.
        intensity: how much of the emotion, 0 to 1.5.
        au: Action Unit intensities, ``{"12": 0.8, "6": 0.4, "43L": 1}``.
        sliders: ``{name: value}`` for the slider and rotation controls.
        magnify: scale the face's current expression (2 doubles it), or ``None``.
        keep: keep this fraction of the current expression (0 neutralises), or ``None``.
        expression: an absolute expression code to give the face (``--expression``).
        keep_mouth: keep the mouth opening as it is (speech, seed 003).
        reference: a session on another photo of the same person whose open mouth gives
            the mouth-interior texture (else the donor library does).
        force: use ``reference`` even when it looks like a different person.
    """

    emotion: str | None = None
    intensity: float = 1.0
    au: Mapping[str, float] = field(default_factory=dict)
    sliders: Mapping[str, float] = field(default_factory=dict)
    magnify: float | None = None
    keep: float | None = None
    expression: Expression | None = None
    keep_mouth: bool = False
    reference: "Session | None" = field(default=None, compare=False)
    force: bool = False

    def __post_init__(self):
        if self.emotion is not None:
            name = str(self.emotion).strip().lower()
            if name not in EMOTION_NAMES:
                raise InputError(f"unknown emotion {self.emotion!r}; choose from {', '.join(EMOTION_NAMES)}",
                                 param="emotion", allowed=", ".join(EMOTION_NAMES))
            object.__setattr__(self, "emotion", name)
        object.__setattr__(self, "intensity", BY_NAME["intensity"].check(self.intensity))
        object.__setattr__(self, "au", _check_au(self.au))
        sliders = {}
        for name, value in self.sliders.items():
            if name not in MOVING:
                raise InputError(f"unknown slider {name!r}; valid: {', '.join(MOVING)}",
                                 param=str(name), allowed=", ".join(MOVING))
            sliders[name] = BY_NAME[name].check(value)
        object.__setattr__(self, "sliders", sliders)
        for name in ("magnify", "keep"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, BY_NAME[name].check(value))
        if self.expression is not None and not isinstance(self.expression, Expression):
            raise InputError("expression must be an Expression (see Expression.from_json)", param="expression")

    @classmethod
    def from_controls(cls, *, emotion: str | None = None, intensity: float = 1.0,
                      au: Mapping[str, float] | None = None, magnify: float | None = None,
                      keep: float | None = None, neutralize: bool = False,
                      expression: Expression | None = None, keep_mouth: bool = False,
                      reference: "Session | None" = None, force: bool = False,
                      **sliders: float) -> "Request":
        """Build a request from keyword controls, as the CLI, ``mien.edit`` and the web app
        pass them: sliders by name (zero values dropped), ``neutralize`` as ``keep=0``.

        Raises:
            InputError: an unknown control or a value out of range (``param`` and
                ``allowed`` name which and what is valid).
        """
        if neutralize and keep is None:
            keep = 0.0
        return cls(emotion, intensity, dict(au or {}), {k: v for k, v in sliders.items() if v},
                   magnify, keep, expression, keep_mouth, reference, force)

    @property
    def rotation(self) -> tuple[float, float, float]:
        """``(yaw, pitch, roll)`` degrees."""
        return tuple(float(self.sliders.get(r, 0.0)) for r in ROTATIONS)  # type: ignore[return-value]

    @property
    def current_change(self) -> float:
        """How much of the face's current expression is added (negative: removed)."""
        change = 0.0
        if self.magnify is not None:
            change += self.magnify - 1.0
        if self.keep is not None:
            change += self.keep - 1.0
        if self.emotion == "neutral":
            change -= self.intensity
        return change

    @property
    def needs_current(self) -> bool:
        """Whether the face's current code must be read (magnify, keep, neutral, expression)."""
        return (self.magnify is not None or self.keep is not None or self.expression is not None
                or self.emotion == "neutral")

    def code(self) -> Expression:
        """The requested change as a code, without the current-expression terms."""
        out = Expression({})
        if self.emotion and self.emotion != "neutral":
            out = out + emotion_code(self.emotion, self.intensity)
        out = out + Expression(dict(self.au))
        for name, value in self.sliders.items():
            out = out + BY_NAME[name].code(value)
        return out

    @property
    def edit(self) -> "Edit":
        """This request as an :class:`Edit`: linear in everything, so video keyframes
        interpolate it."""
        return Edit(self.code(), self.current_change - (1.0 if self.expression is not None else 0.0),
                    self.rotation, self.expression if self.expression is not None else Expression({}))

    def current_terms(self, current: Expression) -> Expression:
        """The change that involves the face's current code ``current``."""
        out = current * self.current_change
        if self.expression is not None:
            out = out + self.expression + current * -1.0
        return out

    def resulting_code(self, current: Expression) -> Expression:
        """The face's expression code after this request (what ``--save-expression`` saves)."""
        if self.expression is not None:
            return self.expression + self.code()
        return current * max(1.0 + self.current_change, 0.0) + self.code()

    def change(self, state: "FaceState") -> Expression:
        """The change of ``state``'s expression code this request asks for, with eye
        closure scaled to the face's own eyes."""
        return self.edit.change(state.canonical, state.code if self.needs_current else None)

    def scene(self, state: "FaceState") -> Scene:
        """What this request makes of one face: target landmarks, mouth texture, shading."""
        if self.reference is not None and not self.force:
            state.check_same_person(self.reference.largest(), "reference photo")
        return scene_of(state, self.change(state), rotation=self.rotation, keep_mouth=self.keep_mouth,
                        reference=self.reference)


@dataclass(frozen=True)
class Edit:
    """What a request asks of a face, as a map of its current code ``c``: the change is
    ``code + c * on_current + (offset - c if offset given)``, folded into ``code +
    c * on_current + offset``; plus a head rotation. Everything is linear, so edits add,
    scale (fading an edit in and out) and interpolate between keyframes (seed 003).

    Attributes:
        code: the change that does not depend on the face (emotions, AUs, sliders); its
            eye closure is scaled to each face's own eyes.
        on_current: how much of the face's current code is added (negative removes it).
        rotation: ``(yaw, pitch, roll)`` degrees.
        offset: an absolute code added as is (a saved expression).
    """

    code: Expression = field(default_factory=lambda: Expression({}))
    on_current: float = 0.0
    rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    offset: Expression = field(default_factory=lambda: Expression({}))

    def __add__(self, other: "Edit") -> "Edit":
        return Edit(self.code + other.code, self.on_current + other.on_current,
                    tuple(a + b for a, b in zip(self.rotation, other.rotation)), self.offset + other.offset)

    def __mul__(self, factor: float) -> "Edit":
        f = float(factor)
        return Edit(self.code * f, self.on_current * f, tuple(a * f for a in self.rotation), self.offset * f)

    __rmul__ = __mul__

    def lerp(self, other: "Edit", t: float) -> "Edit":
        """The edit ``t`` of the way from this one to ``other`` (0: this, 1: other)."""
        return self * (1.0 - t) + other * t

    @property
    def needs_current(self) -> bool:
        return abs(self.on_current) > 1e-9

    @property
    def is_empty(self) -> bool:
        return (not self.needs_current and not any(abs(v) > 1e-9 for v in self.code.values.values())
                and not any(abs(v) > 1e-9 for v in self.offset.values.values())
                and not any(abs(r) > 1e-9 for r in self.rotation))

    def change(self, canonical: np.ndarray, current: Expression | None) -> Expression:
        """The change of a face's expression code.

        Args:
            canonical: ``(478, 3)`` the face's landmarks in its canonical frame (eye
                closure is scaled to its own eyes).
            current: the face's current code (smoothed over time in video); needed only
                when :attr:`needs_current`.
        """
        change = fit_eye_closure(canonical, self.code) + self.offset
        if self.needs_current:
            if current is None:
                raise ValueError("this edit scales the current expression: pass the current code")
            change = change + current * self.on_current
        return change


def scene_of(state: "FaceState", change: Expression, *, rotation: tuple[float, float, float] = (0.0, 0.0, 0.0),
             keep_mouth: bool = False, reference: "Session | None" = None) -> Scene:
    """The :class:`Scene` of one face whose code changes by ``change``: target landmarks
    (deformation first), mouth-interior texture where the warp cannot show it (from
    ``reference``, the face's own open mouth, else a donor), raised-lid eyes and the
    expression's shading."""
    face = state.face
    target = target_landmarks(face, state.frame, change, rotation=rotation, keep_mouth=keep_mouth)
    if np.abs(target - face.landmarks).max() < 1e-6:
        return Scene(face, target)
    return Scene(face, target, _mouth_layers(state, target, reference) + eyes.layers(state, target),
                 shading.for_change(state, change, target))


def _mouth_layers(state: "FaceState", target: np.ndarray, reference: "Session | None") -> tuple[Layer, ...]:
    """Mouth-interior texture when the edit opens the mouth beyond what it shows.

    The texture fades in with the added opening (full at :data:`OPENING_FOR_TEXTURE`),
    so intensity sweeps stay continuous.
    """
    face = state.face
    added = opening(target, face.interocular) - opening(face.landmarks, face.interocular)
    if added <= 0.002:
        return ()
    weights = mesh.region_weights("mouth_interior") * min(1.0, added / OPENING_FOR_TEXTURE)
    if reference is not None:
        ref = reference.largest()
        if opening(ref.face.landmarks, ref.face.interocular) > OPENING_FOR_TEXTURE:
            return (Layer(ref.pixels, ref.face, weights, align_to(ref.face.landmarks, face.landmarks),
                          feather=1 / 300),)
    if opening(face.landmarks, face.interocular) > OPENING_FOR_TEXTURE:
        # The mouth already shows its interior: keep its own teeth.
        return (donors.own_mouth_layer(face, state.pixels, target, weights, state.sclera),)
    return (donors.donor_layer(face, target, weights, state.donor),)

"""Controls ``emotion``, ``au``, sliders, ``magnify``, ``neutralize``: edit one photo.

Every control becomes a displacement in the pose-free expression space
(:mod:`mien.expression`), which the face's own frame turns into target landmarks in the
photo's head pose; :mod:`mien.render` warps the photo to them (deformation first, seed
004). Where warping cannot show the target, an open mouth from a closed one, texture
comes from a ``reference`` photo of the same person, else from the donor library
(:mod:`mien.donors`), behind a soft mask.

Left and right are the subject's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import mesh, shading
from .errors import FaceMismatchError, InputError, NoFaceError
from .expression import (
    EMOTION_NAMES,
    MAX_INTENSITY,
    Expression,
    align_to,
    canonical_landmarks,
    check_intensity,
    emotion_code,
    frame_of,
    model,
    read,
)
from .detect import analyze
from .face import MIN_FACE_SIZE, Face
from .image import as_rgb
from .io import check_output_path, read_photo, write_photo
from .render import Layer, execute, plan

#: Named sliders: (code at +1, code at -1). Values run from -1 to 1 (0 to 1 where there
#: is no negative side).
SLIDERS: dict[str, tuple[dict[str, float], dict[str, float] | None]] = {
    "smile": ({"smile": 1.0}, {"15": 1.0}),
    "brows": ({"1": 0.8, "2": 0.8}, {"4": 1.0}),
    "inner_brows": ({"1": 1.0}, {"4": 0.7}),
    "blink": ({"43": 1.0}, {"5": 1.0}),
    "wink_left": ({"43L": 1.0}, None),
    "wink_right": ({"43R": 1.0}, None),
    "aaa": ({"25": 1.0, "26": 0.8}, None),
    "eee": ({"20": 0.8, "25": 0.8, "12": 0.3}, None),
    "ooo": ({"pucker": 1.0, "25": 0.6, "26": 0.3}, None),
    "lip_press": ({"24": 1.0, "23": 0.5}, None),
    "gaze_x": ({"gaze_x": 1.0}, {"gaze_x": -1.0}),
    "gaze_y": ({"gaze_y": 1.0}, {"gaze_y": -1.0}),
}
#: Head rotation sliders, degrees.
ROTATIONS = ("yaw", "pitch", "roll")
MAX_ROTATION = 15.0
#: Face width of live previews, pixels.
PREVIEW_FACE_PX = 256
#: Added mouth opening (inter-ocular units) at which mouth-interior texture is fully in.
OPENING_FOR_TEXTURE = 0.03


@dataclass(frozen=True)
class Request:
    """Everything asked of one face, validated. Amounts add up (seed 001's arithmetic).

    ``emotion``/``intensity``: an emotion (``EMOTION_NAMES``) and how much, 0 to 1.5.
    ``au``: Action Unit intensities, e.g. ``{"12": 0.8, "6": 0.4, "43L": 1}``.
    ``sliders``: ``{name: value}`` from :data:`SLIDERS` (-1 to 1) and ``ROTATIONS`` (degrees).
    ``magnify``: scale the face's current expression (2 doubles it, 0.5 halves it).
    ``keep``: keep this fraction of the current expression (0 = neutralise).
    ``expression``: an absolute expression code to give the face (from ``--expression``).
    ``keep_mouth``: keep the mouth opening as it is (for speech, seed 003).
    """

    emotion: str | None = None
    intensity: float = 1.0
    au: Mapping[str, float] = field(default_factory=dict)
    sliders: Mapping[str, float] = field(default_factory=dict)
    magnify: float | None = None
    keep: float | None = None
    expression: Expression | None = None
    keep_mouth: bool = False

    def __post_init__(self):
        if self.emotion is not None and self.emotion.strip().lower() not in EMOTION_NAMES:
            raise InputError(f"unknown emotion {self.emotion!r}; choose from {', '.join(EMOTION_NAMES)}")
        check_intensity(self.intensity)
        for name, value in self.au.items():
            if str(name) not in model().directions:
                valid = ", ".join(n for n in model().directions if n[0].isdigit())
                raise InputError(f"unknown Action Unit {name!r}; valid: {valid}")
            if not 0.0 <= float(value) <= MAX_INTENSITY:
                raise InputError(f"AU {name} intensity must be between 0 and {MAX_INTENSITY}, got {value}")
        for name, value in self.sliders.items():
            if name in ROTATIONS:
                if abs(float(value)) > MAX_ROTATION:
                    raise InputError(f"{name} must be within ±{MAX_ROTATION:.0f} degrees, got {value}")
            elif name in SLIDERS:
                low = -1.0 if SLIDERS[name][1] is not None else 0.0
                if not low <= float(value) <= 1.0:
                    raise InputError(f"slider {name} must be between {low:g} and 1, got {value}")
            else:
                raise InputError(f"unknown slider {name!r}; valid: {', '.join([*SLIDERS, *ROTATIONS])}")
        if self.magnify is not None and not 0.0 <= float(self.magnify) <= 3.0:
            raise InputError(f"magnify must be between 0 and 3, got {self.magnify}")
        if self.keep is not None and not 0.0 <= float(self.keep) <= 1.0:
            raise InputError(f"keep must be between 0 and 1, got {self.keep}")

    @property
    def current_change(self) -> float:
        """How much of the face's current expression is added (negative: removed)."""
        change = 0.0
        if self.magnify is not None:
            change += self.magnify - 1.0
        if self.keep is not None:
            change += self.keep - 1.0
        if (self.emotion or "").lower() == "neutral":
            change -= self.intensity
        return change

    @property
    def needs_current(self) -> bool:
        return (self.magnify is not None or self.keep is not None or self.expression is not None
                or (self.emotion or "").lower() == "neutral")

    def code(self) -> Expression:
        """The requested change as a code (without the current-expression terms)."""
        out = Expression({})
        if self.emotion and self.emotion.lower() != "neutral":
            out = out + emotion_code(self.emotion, self.intensity)
        out = out + Expression({str(k): float(v) for k, v in self.au.items()})
        for name, value in self.sliders.items():
            if name in SLIDERS and value:
                plus, minus = SLIDERS[name]
                out = out + (Expression(plus) * value if value > 0 else Expression(minus) * -value)
        return out


def target_landmarks(face: Face, request: Request) -> np.ndarray:
    """``(478, 3)`` where ``face``'s landmarks go for ``request``, in the photo's frame."""
    m = model()
    frame = frame_of(face.landmarks)
    delta = m.displacement(fit_eye_closure(face, request.code()))
    if request.needs_current:
        current = m.displacement(read(face))
        delta = delta + request.current_change * current
        if request.expression is not None:
            delta = delta + m.displacement(request.expression) - current
    target = face.landmarks.astype(np.float64) + frame.displacement_to_image(delta)
    angles = [float(request.sliders.get(r, 0.0)) for r in ROTATIONS]
    if any(angles):
        turned = frame.rotated(*angles)
        target = turned.to_image(frame.to_canonical(target))
    if request.keep_mouth:
        target = keep_mouth_opening(face, target)
    return target


def fit_eye_closure(face: Face, code: Expression) -> Expression:
    """Scale eye closure (AU43) to this face's own eyes: at 1 the lids meet.

    Eye openings differ between people far more than the prior's fixed lid travel, so
    ``43``, ``43L`` and ``43R`` are rescaled per eye by the face's current opening.
    """
    values = dict(code.values)
    both = values.pop("43", 0.0)
    left, right = values.pop("43L", 0.0) + both, values.pop("43R", 0.0) + both
    if not (left or right):
        return code
    m = model()
    canon = canonical_landmarks(face.landmarks)
    for side, amount, (upper, lower) in (("L", left, (386, 374)), ("R", right, (159, 145))):
        if amount:
            field = m.basis[m.index("43" + side)]
            travel = abs((field[upper, 1] - field[lower, 1]))
            opening_now = abs(canon[upper, 1] - canon[lower, 1])
            values["43" + side] = amount * 0.92 * opening_now / max(travel, 1e-6)
    return Expression(values)


def keep_mouth_opening(face: Face, target: np.ndarray) -> np.ndarray:
    """Give ``target`` the original inner-lip opening (seed 003's relative lip distance).

    The correction moves the lower lip, chin and jaw the way a jaw moves: with weights
    taken from the jaw-drop field (AU26) itself, normalised so that the upper-to-lower
    inner-lip vector comes out exactly as it was.
    """
    m = model()
    jaw = np.abs(m.basis[m.index("26")][:, 1])
    span = jaw[14] - jaw[13]
    if span <= 1e-9:
        return target
    w = np.clip((jaw - jaw[13]) / span, 0.0, None)
    w[mesh.N_SURFACE:] = 0.0
    fix = (face.landmarks[14, :2] - face.landmarks[13, :2]) - (target[14, :2] - target[13, :2])
    out = target.copy()
    out[:, :2] += w[:, None] * fix
    return out


def smile_amount(face: Face, request: Request) -> float:
    """How much smile shading an edit adds: the change of the code's ``smile`` value."""
    after = request.code().values.get("smile", 0.0)
    if request.needs_current:
        now = read(face).values.get("smile", 0.0)
        after += request.current_change * now
        if request.expression is not None:
            after += request.expression.values.get("smile", 0.0) - now
    return float(after)


def opening(landmarks: np.ndarray, face: Face) -> float:
    """Inner-lip opening in inter-ocular units."""
    return float(np.linalg.norm(landmarks[13, :2] - landmarks[14, :2]) / max(face.interocular, 1.0))


def texture_layers(face: Face, target: np.ndarray, reference: tuple[np.ndarray, Face] | None) -> tuple[Layer, ...]:
    """Mouth-interior texture when the edit opens the mouth beyond what it shows.

    The texture fades in with the added opening (full at :data:`OPENING_FOR_TEXTURE`), so
    intensity sweeps stay continuous.
    """
    added = opening(target, face) - opening(face.landmarks, face)
    if added <= 0.002:
        return ()
    weights = mesh.region_weights("mouth_interior") * min(1.0, added / OPENING_FOR_TEXTURE)
    if reference is not None:
        pixels, ref_face = reference
        if opening(ref_face.landmarks, ref_face) > OPENING_FOR_TEXTURE:
            return (Layer(pixels, ref_face, weights, align_to(ref_face.landmarks, face.landmarks),
                          feather=1 / 300),)
    from .donors import donor_layer

    layer = donor_layer(face, target, weights)
    return () if layer is None else (layer,)


Progress = Callable[[str], None]


def edit(
    photo: np.ndarray,
    *,
    emotion: str | None = None,
    intensity: float = 1.0,
    au: Mapping[str, float] | None = None,
    magnify: float | None = None,
    neutralize: bool = False,
    keep: float | None = None,
    expression: Expression | None = None,
    reference: np.ndarray | None = None,
    face: int | str = 0,
    keep_mouth: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    **sliders: float,
) -> np.ndarray:
    """Edit the expression of a face in one photo.

    Args:
        photo: ``(H, W, 3)`` ``uint8`` (or ``uint16``) RGB.
        emotion: one of ``neutral, happy, sad, angry, surprised, disgusted, fearful,
            contempt``; ``intensity`` 0 to 1 (up to 1.5 to exaggerate).
        au: Action Unit intensities, ``{"12": 0.8, "6": 0.4}``; ``"12L"``/``"12R"`` for
            the subject's left or right side.
        magnify: scale the current expression (1 = unchanged, 0 = neutral, 2 = double).
        neutralize: remove the current expression (same as ``keep=0``).
        keep: keep this fraction of the current expression.
        expression: give the face this code (e.g. saved from another photo).
        reference: another photo of the same person, used for mouth interior texture.
        face: face index (left to right from 0) or ``"all"``.
        keep_mouth: keep the mouth opening unchanged (talking faces).
        force: use ``reference`` even if it looks like a different person.
        **sliders: ``smile, brows, inner_brows, blink, wink_left, wink_right, aaa, eee,
            ooo, lip_press, gaze_x`` (toward the subject's left), ``gaze_y`` (up)
            (-1..1 or 0..1) and ``yaw, pitch, roll`` (degrees, ±15).

    Returns:
        ``(H, W, 3)`` of ``photo``'s dtype; pixels outside the edited face are
        bit-identical, and an empty request returns ``photo`` unchanged.
    """
    if neutralize:
        keep = 0.0 if keep is None else keep
    request = Request(emotion, intensity, dict(au or {}), dict(sliders), magnify, keep, expression, keep_mouth)
    say = progress or (lambda _msg: None)
    photo = as_rgb(photo, "photo")
    say("analysing faces")
    faces = analyze(photo)
    if not faces:
        raise NoFaceError("no face found in the photo; use a photo where the face is visible")
    chosen = _choose(faces, face)
    ref = None
    if reference is not None:
        reference = as_rgb(reference, "reference photo")
        ref_faces = analyze(reference)
        if not ref_faces:
            raise NoFaceError("no face found in the reference photo")
        ref = (reference, max(ref_faces, key=lambda f: f.size))
        if not force:
            from . import identity

            dist = identity.distance(photo, chosen[0], reference, ref[1])
            if dist > identity.SAME_PERSON:
                raise FaceMismatchError(
                    f"the reference photo seems to show a different person (identity distance {dist:.2f}, "
                    f"same person is below {identity.SAME_PERSON}); use a photo of the same person or force")
    out = photo
    for f in chosen:
        say(f"editing face {f.index}")
        target = target_landmarks(f, request)
        if np.abs(target - f.landmarks).max() < 1e-6:
            continue
        layers = texture_layers(f, target, ref)
        smile = smile_amount(f, request)
        out = execute(out, plan(out, f, target, layers, refine=False,
                                shading=shading.smile(smile) if smile else None))
    return out


def preview(photo: np.ndarray, face: int = 0, work_px: int = PREVIEW_FACE_PX, **controls) -> np.ndarray:
    """A fast working-resolution render of an edit, for live previews (slider drags).

    Takes the same controls as :func:`edit` (no ``reference``). The photo's analysis is
    cached after the first call, so a slider change costs only the working-resolution
    stages, here at ``work_px`` pixels across the face (a preview's screen size).

    Returns:
        ``(h, w, 3)`` ``float32`` RGB in ``[0, 1]``: the face crop at working resolution.
    """
    photo = as_rgb(photo, "photo")
    faces = analyze(photo)
    if not faces:
        raise NoFaceError("no face found in the photo; use a photo where the face is visible")
    f = _choose(faces, face)[0]
    sliders = {k: controls.pop(k) for k in list(controls) if k in SLIDERS or k in ROTATIONS}
    if controls.pop("neutralize", False):
        controls["keep"] = 0.0
    request = Request(sliders=sliders, **controls)
    target = target_landmarks(f, request)
    smile = smile_amount(f, request)
    return plan(photo, f, target, texture_layers(f, target, None), refine=False, work_px=work_px,
                shading=shading.smile(smile) if smile else None).preview


def _choose(faces: Sequence[Face], face: int | str) -> list[Face]:
    if isinstance(face, str) and face.strip().lower() == "all":
        chosen = list(faces)
    else:
        try:
            idx = int(face)
        except (TypeError, ValueError):
            raise InputError(f"face must be a number from 0 or 'all', got {face!r}") from None
        if not 0 <= idx < len(faces):
            raise InputError(f"the photo has {len(faces)} face(s), numbered 0 to {len(faces) - 1} from the "
                             f"left; face {idx} does not exist (see `mien inspect`)")
        chosen = [faces[idx]]
    usable = [f for f in chosen if f.size >= MIN_FACE_SIZE]
    if not usable:
        raise NoFaceError(f"face {chosen[0].index} is only {chosen[0].size:.0f} px wide; mien needs at least "
                          f"{MIN_FACE_SIZE} px: use a higher-resolution photo")
    return usable


def resulting_expression(face: Face, request: Request) -> Expression:
    """The expression code ``face`` has after ``request`` (what ``--save-expression`` writes)."""
    code = request.code()
    if request.expression is not None:
        return request.expression + code
    return read(face) * max(1.0 + request.current_change, 0.0) + code


def edit_files(photo: str | os.PathLike, out: str | os.PathLike | None, *,
               reference: str | os.PathLike | None = None,
               save_expression: str | os.PathLike | None = None,
               load_expression: str | os.PathLike | None = None, **options) -> Path | None:
    """File-level :func:`edit`: read, edit, write ``out`` (atomically, metadata kept).

    ``load_expression`` reads a code saved by ``save_expression``; ``save_expression``
    writes the expression of the (first) edited face after the edit. ``out`` may be
    ``None`` when only saving an expression.
    """
    inputs = [p for p in (photo, reference, load_expression) if p is not None]
    if out is not None:
        out = check_output_path(out, inputs)
    if save_expression is not None:
        save_expression = Path(save_expression)
        if any(Path(p).resolve() == save_expression.resolve() for p in inputs):
            raise InputError(f"{save_expression} is also an input; choose another --save-expression")
        if not save_expression.parent.exists():
            raise InputError(f"{save_expression.parent}: folder does not exist")
    if load_expression is not None:
        path = Path(load_expression)
        if not path.exists():
            raise InputError(f"{path}: no such file; check the path")
        options["expression"] = Expression.from_json(path.read_text())
    src = read_photo(photo)
    ref = read_photo(reference).pixels if reference is not None else None
    written = None
    if out is not None:
        result = edit(src.pixels, reference=ref, **options)
        written = write_photo(out, result, like=src, protect=inputs)
    if save_expression is not None:
        faces = analyze(src.pixels)
        if not faces:
            raise NoFaceError(f"no face found in {photo}")
        chosen = _choose(faces, options.get("face", 0))[0]
        request = _request_from(options)
        text = resulting_expression(chosen, request).to_json()
        tmp = save_expression.with_name(f".{save_expression.name}.part")
        tmp.write_text(text)
        os.replace(tmp, save_expression)
    return written


def _request_from(options: dict) -> Request:
    sliders = {k: v for k, v in options.items() if k in SLIDERS or k in ROTATIONS}
    keep = options.get("keep")
    if options.get("neutralize"):
        keep = 0.0 if keep is None else keep
    return Request(options.get("emotion"), options.get("intensity", 1.0), dict(options.get("au") or {}),
                   sliders, options.get("magnify"), keep, options.get("expression"), options.get("keep_mouth", False))


def sweep(photo: np.ndarray, emotion: str, steps: int = 11, face: int | str = 0,
          top: float = 1.0) -> list[np.ndarray]:
    """The photo at ``steps`` evenly spaced intensities of ``emotion`` from 0 to ``top``.

    The face is analysed once; each step re-renders from the cached analysis.
    """
    if steps < 2:
        raise InputError(f"a sweep needs at least 2 steps, got {steps}")
    return [edit(photo, emotion=emotion, intensity=float(t), face=face) for t in np.linspace(0.0, top, steps)]

"""Code to geometry: an expression code becomes target landmarks in the photo's head pose.

A change of expression is a code (:class:`mien.expression.Expression`); its displacement
lives in the pose-free canonical frame and the face's own :class:`~mien.expression.Frame`
carries it into the photo. Taking a code (not a request) lets video smooth codes over
time before any geometry is made (seed 003). Here too: eye closure scaled to each
person's own eyes, the mouth opening kept for speech (seed 003's relative lip distance),
and small head rotations.
"""

from __future__ import annotations

import numpy as np

from . import mesh
from .expression import Expression, Frame, model
from .face import Face

#: Upper and lower lid landmarks of the subject's left and right eye.
LIDS = {"L": (386, 374), "R": (159, 145)}
#: Fraction of the current opening that AU43 at 1 closes (the lashes meet just before).
LID_CLOSURE = 0.92


def target_landmarks(face: Face, frame: Frame, change: Expression, *,
                     rotation: tuple[float, float, float] = (0.0, 0.0, 0.0),
                     keep_mouth: bool = False) -> np.ndarray:
    """Where ``face``'s landmarks go when its expression changes by ``change``.

    Args:
        face: the face in its photo.
        frame: ``face``'s canonical frame (:func:`mien.expression.frame_of`).
        change: the change of expression code (target code minus current code), with eye
            closure already scaled to this face (:func:`fit_eye_closure`).
        rotation: extra ``(yaw, pitch, roll)`` of the head in degrees, signs of
            :attr:`mien.face.HeadPose.angles`.
        keep_mouth: keep the inner-lip opening as it is (talking faces).

    Returns:
        ``(478, 3)`` ``float64`` target landmarks in the photo's frame (pixels).
    """
    delta = model().displacement(change)
    target = face.landmarks.astype(np.float64) + frame.displacement_to_image(delta)
    if any(rotation):
        target = frame.rotated(*rotation).to_image(frame.to_canonical(target))
    if keep_mouth:
        target = keep_mouth_opening(face, target)
    return target


def fit_eye_closure(canonical: np.ndarray, code: Expression) -> Expression:
    """Scale eye closure (AU43) to this face's own eyes: at 1 the lids meet.

    Eye openings differ between people far more than the prior's fixed lid travel, so
    ``43``, ``43L`` and ``43R`` are rescaled per eye by the face's current opening.

    Args:
        canonical: ``(478, 3)`` the face's landmarks in the canonical frame.
        code: a code that may contain ``43``, ``43L``, ``43R``.

    Returns:
        The code with ``43`` split into ``43L``/``43R`` and each scaled.
    """
    values = dict(code.values)
    both = values.pop("43", 0.0)
    left, right = values.pop("43L", 0.0) + both, values.pop("43R", 0.0) + both
    if not (left or right):
        return code
    m = model()
    for side, amount in (("L", left), ("R", right)):
        if amount:
            upper, lower = LIDS[side]
            field = m.basis[m.index("43" + side)]
            travel = abs(field[upper, 1] - field[lower, 1])
            opening_now = abs(canonical[upper, 1] - canonical[lower, 1])
            values["43" + side] = amount * LID_CLOSURE * opening_now / max(travel, 1e-6)
    return Expression(values)


def keep_mouth_opening(face: Face, target: np.ndarray) -> np.ndarray:
    """Give ``target`` the original inner-lip opening (seed 003's relative lip distance).

    The correction moves the lower lip, chin and jaw the way a jaw moves: with weights
    taken from the jaw-drop field (AU26) itself, normalised so that the upper-to-lower
    inner-lip vector comes out exactly as it was.

    Returns:
        ``(478, 3)`` ``float64`` corrected target.
    """
    m = model()
    jaw = np.abs(m.basis[m.index("26")][:, 1])
    span = jaw[14] - jaw[13]
    if span <= 1e-9:
        return target
    w = np.clip((jaw - jaw[13]) / span, 0.0, None)
    w[mesh.N_SURFACE:] = 0.0
    fix = (face.landmarks[14, :2] - face.landmarks[13, :2]) - (target[14, :2] - target[13, :2])
    out = np.array(target, np.float64)
    out[:, :2] += w[:, None] * fix
    return out


def opening(landmarks: np.ndarray, interocular: float) -> float:
    """Inner-lip opening of ``(478, 2+)`` landmarks, in inter-ocular units: how far the
    lower inner lip's middle (14) lies below the upper one's (13) along the face's own
    vertical (perpendicular to the outer eye corners 33-263). Lips pressed past each
    other give a negative opening, not an open mouth."""
    p = np.asarray(landmarks, np.float64)
    return float(face_down(p) @ (p[14, :2] - p[13, :2]) / max(interocular, 1.0))


def face_down(landmarks: np.ndarray) -> np.ndarray:
    """``(2,)`` unit vector pointing down the face (from the eyes toward the mouth) in the
    image, perpendicular to the outer eye corners 33-263: right at any roll."""
    p = np.asarray(landmarks, np.float64)
    eyes = p[263, :2] - p[33, :2]
    down = np.array([-eyes[1], eyes[0]]) / max(float(np.linalg.norm(eyes)), 1e-9)
    return down if down @ (p[14, :2] - p[4, :2]) >= 0 else -down  # nose tip toward the mouth

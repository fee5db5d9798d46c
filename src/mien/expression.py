"""Expression code: faces compared free of head pose, and a linear expression space.

Alignment: a face's landmarks are brought into another face's frame, or into the
canonical frame, by the 3D similarity that best aligns their *stable* points (forehead,
temples, nose bridge: :data:`mesh.STABLE`), which an expression barely moves. Whatever
still differs is expression (and, between two people, face shape): the pose-free
comparison ExSHOT makes through its 3D face mesh.

Expression space: a code (:class:`Expression`) is a set of intensities of named
directions (Action Units with left/right variants, the smile measured on real people,
pucker, gaze), each a ``(478, 3)`` displacement in the canonical frame, so codes add,
scale and interpolate (seed 001's latent arithmetic, seed 003's coefficient space).
:func:`read` estimates a face's current code. Where each direction comes from is in
``scripts/build_expression_model.py`` and NOTICE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from . import mesh
from .errors import InputError
from .face import Face
from .geometry import robust_similarity


def align_to(moving: np.ndarray, fixed: np.ndarray, indices=mesh.STABLE, iterations: int = 3) -> np.ndarray:
    """Bring ``moving`` landmarks into ``fixed``'s frame by a robust 3D similarity.

    Args:
        moving, fixed: ``(478, 3)`` landmarks (pixels, see :mod:`mien.face`).
        indices: the landmarks the similarity is fitted on.
        iterations: reweighting rounds that down-weight points that disagree.

    Returns:
        ``(478, 3)`` ``float64`` ``moving`` expressed in ``fixed``'s image frame.
    """
    idx = list(indices)
    s, rot, t = robust_similarity(moving[idx], fixed[idx], iterations)
    return s * moving.astype(np.float64) @ rot.T + t


# ----------------------------------------------------------------- canonical frame

#: Camera axes (x right, y down, z away) <-> canonical axes (x right, y up, z toward viewer).
_FLIP = np.array([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Frame:
    """Where a face sits: ``landmarks ~= scale * rotation @ (canonical * FLIP) + translation``.

    Fitted on the stable points only, so an expression does not tilt the frame.
    ``rotation`` is ``(3, 3)``, ``translation`` ``(3,)`` pixels, ``scale`` pixels per
    canonical unit.
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def to_canonical(self, landmarks: np.ndarray) -> np.ndarray:
        """``(N, 3)`` image landmarks -> canonical coordinates."""
        return ((np.asarray(landmarks, np.float64) - self.translation) @ self.rotation / self.scale) * _FLIP

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """``(N, 3)`` canonical coordinates -> image landmarks (pixels)."""
        return self.scale * (np.asarray(points, np.float64) * _FLIP) @ self.rotation.T + self.translation

    def displacement_to_image(self, delta: np.ndarray) -> np.ndarray:
        """``(N, 3)`` canonical displacements -> image displacements (pixels)."""
        return self.scale * (np.asarray(delta, np.float64) * _FLIP) @ self.rotation.T

    def rotated(self, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> "Frame":
        """The same frame with the head turned by extra angles (degrees, see HeadPose)."""
        extra = rotation_matrix(yaw, pitch, roll)
        return Frame(self.scale, self.rotation @ extra, self.translation)


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``(3, 3)`` rotation in camera axes from yaw, pitch, roll in degrees, with the signs
    of :attr:`mien.face.HeadPose.angles` (yaw toward the image's right, pitch down, roll
    clockwise)."""
    y, p, r = np.radians([-yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def frame_of(landmarks: np.ndarray) -> Frame:
    """The canonical frame of ``(478, 3)`` landmarks, fitted robustly on stable points."""
    verts, _ = mesh.canonical()
    cam = verts.astype(np.float64) * _FLIP
    idx = list(mesh.STABLE)
    s, rot, t = robust_similarity(cam[idx], np.asarray(landmarks, np.float64)[idx])
    return Frame(s, rot, t)


def canonical_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """``(478, 3)`` landmarks in the canonical frame (units of the canonical model)."""
    return frame_of(landmarks).to_canonical(landmarks)


# ----------------------------------------------------------------- expression space

#: Action Units that have a left and a right variant ("12L", "12R").
SIDED_AUS = ("1", "2", "4", "5", "6", "7", "9", "10", "12", "14", "15", "20", "43")

#: Emotions as FACS prototypes at intensity 1 (Ekman & Friesen); happy is the smile
#: measured on the London pairs. These are the prior that scripts/fit_emotions.py starts
#: from and regularises toward.
#:
#: The intensity scale: 1 is the apex of a clear, *posed* expression (as in
#: posed-expression databases), 0.5 a moderate everyday one, 1.5 exaggerated but still
#: anatomically possible. The "smile" direction is the *average* London smile (moderate:
#: mouth barely parted, little cheek raise), so happy 0.5 is that smile and happy 1 twice
#: its size; ``data/emotions.json`` holds the measured broad smile (see
#: ``scripts/build_expression_model.py``).
FACS_EMOTIONS: dict[str, dict[str, float]] = {
    "happy": {"smile": 2.0},
    "sad": {"1": 0.9, "4": 0.5, "15": 0.9, "17": 0.3, "43": 0.15},
    "angry": {"4": 1.0, "5": 0.3, "7": 0.8, "23": 0.8, "24": 0.5},
    "surprised": {"1": 1.0, "2": 1.0, "5": 0.8, "25": 1.0, "26": 0.55},
    "disgusted": {"9": 1.0, "10": 0.9, "4": 0.4, "15": 0.4, "17": 0.4},
    "fearful": {"1": 0.9, "2": 0.6, "4": 0.5, "5": 0.9, "7": 0.3, "20": 0.9, "25": 0.8, "26": 0.25},
    "contempt": {"12R": 0.6, "14R": 0.7},
}


def _emotions_file() -> dict:
    path = resources.files("mien").joinpath("data/emotions.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def _fitted_emotions() -> dict[str, dict[str, float]]:
    """The FACS prototypes, replaced by the fitted or measured mixes where those exist
    (``data/emotions.json``: ``scripts/fit_emotions.py``; happy from
    ``scripts/build_expression_model.py``)."""
    out = {k: dict(v) for k, v in FACS_EMOTIONS.items()}
    fitted = _emotions_file().get("emotions", {})
    out.update({k: {str(a): float(v) for a, v in mix.items()} for k, mix in fitted.items()})
    return out


#: Emotions as expression codes at intensity 1: what ``emotion=`` uses.
EMOTIONS: dict[str, dict[str, float]] = _fitted_emotions()

EMOTION_NAMES = ("neutral", *EMOTIONS)
#: The FACS prototype of happiness, kept for comparison with the measured smile.
HAPPY_FACS = {"6": 0.8, "12": 1.0, "25": 0.4}
#: Largest emotion intensity accepted (exaggeration beyond the prototype).
MAX_INTENSITY = 1.5
#: The most of each direction an emotion may ask for, beyond which a face could not go.
#: An Action Unit at 1 moves its landmarks by a clear apex (``AU_PEAK`` in
#: scripts/build_expression_model.py); posed expressions push some AUs further, so an
#: emotion's amount is softly limited to 2 per AU, except the mouth's opening: AU25/26 at
#: 1.6 part the lips by at most 0.24 inter-ocular distances (2 cm: a parted mouth, not a
#: yawn). The smile at 1 is the average London smile and the broadest London (training)
#: smile projects at 2.1 of it, so it is limited to 2.6, a quarter beyond the broadest
#: real one (happy 1.5 reaches 2.54). See :func:`plausible`.
PLAUSIBLE_MAX: dict[str, float] = {"smile": 2.6, "25": 1.6, "26": 1.6}
#: Limit of the other Action Units (see :data:`PLAUSIBLE_MAX`).
AU_PLAUSIBLE_MAX = 2.0
#: Fraction of :data:`PLAUSIBLE_MAX` up to which amounts pass unchanged.
_KNEE = 0.7


@dataclass(frozen=True, eq=False)
class ExpressionModel:
    """The linear expression space (built by ``scripts/build_expression_model.py``).

    Attributes:
        directions: names of the basis directions, in order.
        basis: ``(D, 478, 3)`` ``float64`` canonical displacement of each direction at 1.
        neutral_mean: ``(478, 3)`` mean neutral face (London set).
        identity_basis: ``(K, 478, 3)`` shape components (one standard deviation each).
        interocular: inter-ocular distance of ``neutral_mean``, canonical units.
    """

    directions: tuple[str, ...]
    basis: np.ndarray
    neutral_mean: np.ndarray
    identity_basis: np.ndarray
    interocular: float

    def index(self, name: str) -> int:
        try:
            return self.directions.index(name)
        except ValueError:
            raise InputError(f"unknown expression direction {name!r}; valid: {', '.join(self.directions)}",
                             param="expression", allowed=", ".join(self.directions)) from None

    def displacement(self, code: "Expression") -> np.ndarray:
        """``(478, 3)`` canonical displacement of an expression code."""
        out = np.zeros((mesh.N_LANDMARKS, 3))
        for name, value in code.values.items():
            if value:
                out += value * self.basis[self.index(name)]
        return out


def _side_weight(verts: np.ndarray) -> np.ndarray:
    """``(468,)`` smooth weight of the subject's left half (canonical x > 0)."""
    return 1.0 / (1.0 + np.exp(-verts[:, 0] / 0.45))


def _pucker(verts: np.ndarray) -> np.ndarray:
    """The "ooo" lip shape: lips pushed toward the mouth's centre line and forward."""
    core = mesh._falloff(mesh._core((mesh.LIPS_OUTER,)), 0.3, 1.8)
    centre = verts[list(mesh.LIPS_OUTER)].mean(axis=0)
    d = np.zeros((mesh.N_LANDMARKS, 3))
    d[: mesh.N_SURFACE, 0] = -0.35 * (verts[:, 0] - centre[0]) * core
    d[: mesh.N_SURFACE, 2] = 0.35 * core
    return d


def _gaze(neutral: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaze directions: the irises move within the eyes (x: toward the subject's left,
    y: up); for vertical gaze the lids follow, the upper more than the lower."""
    gx = np.zeros((mesh.N_LANDMARKS, 3))
    gy = np.zeros((mesh.N_LANDMARKS, 3))
    for eye, iris in ((mesh.LEFT_EYE, mesh.LEFT_IRIS), (mesh.RIGHT_EYE, mesh.RIGHT_IRIS)):
        contour = neutral[list(eye)]
        width = np.ptp(contour[:, 0])
        gx[list(iris), 0] = 0.11 * width
        gy[list(iris), 1] = 0.12 * width
        centre_y = contour[:, 1].mean()
        for v in eye:
            gy[v, 1] = (0.6 if neutral[v, 1] > centre_y else 0.25) * 0.12 * width
    return gx, gy


@lru_cache(maxsize=1)
def model() -> ExpressionModel:
    """Load the shipped expression space (cached)."""
    with resources.files("mien").joinpath("data/expression_model.npz").open("rb") as fh:
        data = np.load(fh)
        names = [str(n) for n in data["au_names"]]
        au = data["au_basis"].astype(np.float64)
        smile = data["happy_london"].astype(np.float64)
        neutral = data["neutral_mean"].astype(np.float64)
        identity = data["identity_basis"].astype(np.float64)
        iod = float(data["interocular"])
    verts, _ = mesh.canonical()
    left = np.ones(mesh.N_LANDMARKS)
    left[: mesh.N_SURFACE] = _side_weight(verts)
    directions, basis = [], []
    for name, field in zip(names, au):
        directions.append(name)
        basis.append(field)
        if name in SIDED_AUS:
            directions += [f"{name}L", f"{name}R"]
            basis += [field * left[:, None], field * (1.0 - left)[:, None]]
    smile[mesh.N_SURFACE:] = 0.0
    directions += ["smile", "pucker", "gaze_x", "gaze_y"]
    basis += [smile, _pucker(verts), *_gaze(neutral)]
    return ExpressionModel(tuple(directions), np.array(basis), neutral, identity, iod)


@dataclass(frozen=True)
class Expression:
    """An expression code: intensities of named directions of :func:`model`.

    Names are Action Unit numbers (``"12"``; ``"12L"``/``"12R"`` for the subject's left
    or right side only), ``"smile"`` (the smile measured on real people), ``"pucker"``
    and ``"gaze_x"``/``"gaze_y"`` (toward the subject's left / up).
    Codes add and scale linearly (seed 001's latent arithmetic).
    """

    values: dict[str, float]

    def __post_init__(self):
        known = model().directions
        for name, value in self.values.items():
            if name not in known:
                raise InputError(f"unknown expression direction {name!r}; valid: {', '.join(known)}")
            if not np.isfinite(value):
                raise InputError(f"{name} must be a finite number, got {value}")

    def __add__(self, other: "Expression") -> "Expression":
        out = dict(self.values)
        for k, v in other.values.items():
            out[k] = out.get(k, 0.0) + v
        return Expression(out)

    def __mul__(self, factor: float) -> "Expression":
        return Expression({k: v * float(factor) for k, v in self.values.items()})

    __rmul__ = __mul__

    def to_json(self) -> str:
        return json.dumps({"mien_expression": 1, "values": {k: round(float(v), 5) for k, v in
                                                               self.values.items() if v}}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Expression":
        try:
            data = json.loads(text)
            values = {str(k): float(v) for k, v in data["values"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"not a mien expression file ({exc}); save one with --save-expression") from None
        return cls(values)


def plausible(name: str, amount: float) -> float:
    """``amount`` of direction ``name`` kept within its anatomically plausible range.

    Unchanged up to 70 % of the direction's maximum (:data:`PLAUSIBLE_MAX`, else
    :data:`AU_PLAUSIBLE_MAX` for an Action Unit; a sided AU "12L" takes its AU's), then
    bending smoothly (continuous slope) toward the maximum, which it never reaches. Gaze
    and pucker pass unchanged.
    """
    base = name.rstrip("LR") if name[:1].isdigit() else name
    top = PLAUSIBLE_MAX.get(base, AU_PLAUSIBLE_MAX if name[:1].isdigit() else None)
    if top is None:
        return float(amount)
    knee = _KNEE * top
    a = float(amount)
    if abs(a) <= knee:
        return a
    room = top - knee
    return float(np.sign(a) * (knee + room * np.tanh((abs(a) - knee) / room)))


def emotion_code(emotion: str, intensity: float = 1.0) -> Expression:
    """The code of an emotion at an intensity in ``[0, MAX_INTENSITY]``: its mix at 1
    (:data:`EMOTIONS`) times the intensity, each amount kept plausible (:func:`plausible`)."""
    name = emotion.strip().lower()
    if name not in EMOTIONS:
        raise InputError(f"unknown emotion {emotion!r}; choose from {', '.join(EMOTION_NAMES)}")
    t = check_intensity(intensity)
    return Expression({k: plausible(k, v * t) for k, v in EMOTIONS[name].items()})


def check_intensity(intensity: float, name: str = "intensity") -> float:
    value = float(intensity)
    if not 0.0 <= value <= MAX_INTENSITY:
        raise InputError(f"{name} must be between 0 and {MAX_INTENSITY}, got {intensity}")
    return value


#: Shrinkage of expression intensities and identity coefficients when reading a face.
#: Calibrated on the London pairs: neutral faces read a total AU intensity of ~0.5 (from
#: ~2.0 without shrinkage) while smiles keep AU12 ~0.4 (see NOTES.md).
READ_SHRINK = 2.0
READ_IDENTITY_RIDGE = 0.5


def read(face: Face, canonical: np.ndarray | None = None) -> Expression:
    """Estimate a face's current expression code.

    Bounded, regularised least squares on the canonical-frame landmarks (x, y): the face
    minus the mean neutral face is explained by identity components (free, lightly
    regularised) plus the bilateral Action Units and the measured smile, each in
    ``[0, 1.5]`` and shrunk toward 0 so that face shape is not read as expression. Lips,
    eyes and brows weigh three times as much as the rest: they carry the expression.
    """
    from scipy.optimize import lsq_linear

    m = model()
    if canonical is None:
        canonical = canonical_landmarks(face.landmarks)
    x = canonical[: mesh.N_SURFACE, :2] - m.neutral_mean[: mesh.N_SURFACE, :2]
    names = [n for n in m.directions if n.isdigit()] + ["smile"]
    cols_ex = np.stack([m.basis[m.index(n)][: mesh.N_SURFACE, :2].ravel() for n in names], 1)
    k = len(m.identity_basis)
    cols_id = m.identity_basis[:, : mesh.N_SURFACE, :2].reshape(k, -1).T
    w = np.ones(mesh.N_SURFACE)
    w[mesh._core((mesh.LIPS_OUTER, mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LEFT_BROW, mesh.RIGHT_BROW))] = 3.0
    sw = np.repeat(np.sqrt(w), 2)
    n = len(names)
    reg = np.zeros((n + k, n + k))
    reg[:n, :n] = READ_SHRINK * np.eye(n)
    reg[n:, n:] = READ_IDENTITY_RIDGE * np.eye(k)
    a = np.concatenate([np.concatenate([cols_ex, cols_id], axis=1) * sw[:, None], reg])
    b = np.concatenate([x.ravel() * sw, np.zeros(n + k)])
    lo = np.concatenate([np.zeros(n), np.full(k, -np.inf)])
    hi = np.concatenate([np.full(n, 1.5), np.full(k, np.inf)])
    sol = lsq_linear(a, b, bounds=(lo, hi), method="bvls")
    return Expression({name: float(v) for name, v in zip(names, sol.x[:n]) if v > 1e-3})

"""Best Take for group photos: every face at its best moment, from a burst of shots.

Given several shots of the same group taken moments apart, each face is paired across
shots (identity descriptor plus position, :meth:`mien.session.Session.partners`) and
scored in every shot it appears in:

- **eyes open**: each eye's lid gap (landmarks 159/145 and 386/374) over the inter-ocular
  distance (33-263), relative to that eye's widest opening across the shots; the face's
  score is the smaller eye's.
- **looking at the camera**: the eyes' turn in the head (the iris offset from the eye
  corners, 468/473 against 33-133 and 263-362, turned into degrees) against the face's
  median across the shots; the head's yaw and pitch likewise, with a wide absolute term
  on the whole gaze (head plus eyes). A transfer can fix the eyes, not the head.
- **smiling**: the expression code's ``smile`` (or AU12 when larger), relative to the
  face's broadest smile across shots.
- **sharp**: variance of the Laplacian on the face crop resampled to a fixed width,
  relative to the sharpest shot of the same face.
- **not occluded**: :func:`mien.occlusion.occlusion` with generic cues only, off by
  default (:data:`SCORE_OCCLUSION`).

The base shot is the one that needs the fewest replacements (ties: the best total score),
or the one the caller names. A face whose eyes (open, gaze) or mouth (smile) is clearly
better in another shot (by more than :data:`MARGIN`) is transferred from there with the
burst renderer (:class:`mien.controls.Burst`): all regions from the one shot that is best
for both, or eyes and mouth from different shots when each is best in a different one.
The head pose of the base shot is kept (the renderer moves expressions, not heads), so a
head turned away in the base shot stays turned; the base choice therefore counts head
pose in its tie-break score. Pixels outside the replaced faces are bit-identical to the
base shot.

Shots with a different number of people: faces are paired to the shot with the most
faces (the first such shot), so a person missing from some shots is scored in the shots
they appear in. Only shots that hold every person can be chosen as the base
automatically; a ``base`` given by the caller that misses someone is honoured and the
report lists the missing person with ``"from": None``. A face in a shot that pairs with
no one (a passer-by, or a pairing refused as a different person) is left as it is.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError, NoFaceError
from ..face import MIN_FACE_SIZE
from .burst import Burst, Shot

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: A part (eyes, mouth) is replaced only when another shot beats the base by this much
#: on its score (scores are in ``[0, 1]`` per part): a transfer is not free.
MARGIN = 0.15
#: Eyes opened less than this fraction of their widest opening count as closed.
EYES_CLOSED = 0.7
#: Eyes turned in the head away from the face's median across the burst (degrees) at
#: which the looking score falls to ``exp(-1/2)``. mien's strongest gaze edit
#: (``gaze_x=1``) reads as 4-8 degrees; the same person's real shots differ by ~1-2.
EYE_SIGMA = 4.0
#: The same for the head's yaw and pitch away from the face's median, degrees (real shots
#: of one person differ by up to ~9 degrees of pitch).
HEAD_SIGMA = 15.0
#: The same for the absolute gaze (the whole burst looking away), degrees.
ABSOLUTE_SIGMA = 30.0
#: Smiles broader than this (code units) all count as a full smile when it is the face's
#: broadest; a face that never smiles more than this is scored against this value.
SMILE_FULL = 0.25
#: A mouth is replaced only for a smile broader by at least this much (code units).
SMILE_STEP = 0.1
#: Face crops are resampled to this width before measuring sharpness.
SHARP_PX = 128
#: Eyes opened at least this fraction of their widest count as fully open (a smile
#: narrows the eyes to ~0.8 of a neutral face's opening); closed eyes read ~0.2-0.4.
EYES_OPEN = 0.75
#: Score occlusion with :func:`mien.occlusion.occlusion`'s generic cues. Off: without a
#: tracked reference appearance those cues read broad smiles as occluded (0.7-0.9 on
#: London happy faces), which would rule the best smiles out as sources.
SCORE_OCCLUSION = False
#: Plain-descriptor distance above which a pairing is refused as a different person.
SAME_PERSON_PLAIN = 0.6

# Landmark indices (MediaPipe face mesh with irises).
_LIDS = ((159, 145), (386, 374))  # subject's right eye (image left), left eye
_CORNERS = ((33, 133), (263, 362))  # (outer, inner) per eye
_IRIS = (468, 473)
_IOD = (33, 263)


@dataclass(frozen=True)
class FaceScore:
    """Measurements and part scores of one face in one shot.

    Attributes:
        openness: ``(2,)`` lid gap over inter-ocular distance, per eye (right, left).
        gaze: horizontal gaze toward the image's right, degrees (head yaw plus eyes).
        eye_angle: the eyes' turn in the head toward the image's right, degrees.
        yaw, pitch: head yaw and pitch, degrees (:attr:`mien.face.HeadPose.angles`).
        smile: the expression code's smile (max of ``smile`` and AU12).
        sharpness: Laplacian variance of the face crop at :data:`SHARP_PX` width.
        occlusion: ``0`` clear .. ``1`` occluded.
        eyes, look, head, mouth, sharp, clear: part scores in ``[0, 1]`` (relative to the
            same face across shots; filled in by :func:`score_group`): ``look`` is the
            eyes' direction (a transfer can fix it), ``head`` the head's (it cannot).
    """

    openness: np.ndarray
    gaze: float
    eye_angle: float
    yaw: float
    pitch: float
    smile: float
    sharpness: float
    occlusion: float
    eyes: float = 0.0
    look: float = 0.0
    head: float = 0.0
    mouth: float = 0.0
    sharp: float = 0.0
    clear: float = 0.0

    @property
    def eye_part(self) -> float:
        """What transferring the eyes can bring: open eyes looking at the camera, ``[0, 2]``."""
        return self.eyes + self.look

    @property
    def mouth_part(self) -> float:
        return self.mouth

    @property
    def source(self) -> float:
        """``[0, 1]`` how usable this face is as a texture source (sharp and clear)."""
        return self.sharp * self.clear

    @property
    def total(self) -> float:
        """Overall quality: eyes count twice, then looking, smile, head toward the camera,
        sharpness, occlusion."""
        return 2 * self.eyes + self.look + self.mouth + 0.5 * self.head + 0.5 * self.sharp + 0.5 * self.clear


def measure(state) -> FaceScore:
    """Raw measurements of one face (a :class:`mien.session.FaceState`)."""
    face = state.face
    p = face.points.astype(np.float64)
    iod = max(float(np.linalg.norm(p[_IOD[0]] - p[_IOD[1]])), 1.0)
    openness = np.array([np.linalg.norm(p[a] - p[b]) / iod for a, b in _LIDS])
    yaw, pitch, _ = face.pose.angles
    eye_angles = []
    for (outer, inner), iris in zip(_CORNERS, _IRIS):
        axis = p[inner] - p[outer]
        width = float(np.linalg.norm(axis))
        if width < 1:
            continue
        mid = (p[inner] + p[outer]) / 2
        # Offset along the image's x axis, in eye widths (the axis turned to point right).
        direction = axis / width * (1 if axis[0] >= 0 else -1)
        d = float(np.dot(p[iris] - mid, direction)) / width
        # An eyeball's radius is ~0.4 eye widths: offset d turns the eye by asin(d / 0.4).
        eye_angles.append(np.degrees(np.arcsin(np.clip(d / 0.4, -1, 1))))
    eye_angle = float(np.mean(eye_angles)) if eye_angles else 0.0
    gaze = yaw + eye_angle
    values = state.code.values
    smile = max(float(values.get("smile", 0.0)), float(values.get("12", 0.0)))
    x0, y0, x1, y1 = _crop(face)
    crop = state.pixels[y0:y1, x0:x1]
    grey = cv2.cvtColor(_to_uint8(crop), cv2.COLOR_RGB2GRAY)
    h = max(1, round(grey.shape[0] * SHARP_PX / max(grey.shape[1], 1)))
    grey = cv2.resize(grey, (SHARP_PX, h), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())
    occluded = _occlusion(state) if SCORE_OCCLUSION else 0.0
    return FaceScore(openness, float(gaze), eye_angle, float(yaw), float(pitch), smile, sharpness, occluded)


def _occlusion(state) -> float:
    from .. import occlusion as occ

    return float(occ.occlusion(_to_uint8(state.pixels), state.face, None))


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return (pixels.astype(np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)


def _crop(face) -> tuple[int, int, int, int]:
    h, w = face.image_size
    pts = face.points
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 1
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def score_group(raw: dict[int, FaceScore]) -> dict[int, FaceScore]:
    """Part scores of one face across the shots it appears in (``{shot: raw}``).

    Directions are judged against the face's median over the shots where its eyes are
    open (a closed eye's iris estimate wanders): people look at the camera in most shots
    of a burst, and the camera's exact direction is unknown. With fewer than three
    open-eyed shots the eyes' median gets one more vote, for eyes turned against the
    head's median yaw (a camera straight ahead).
    """
    widest = np.max([r.openness for r in raw.values()], axis=0)
    broadest = max(SMILE_FULL, max(r.smile for r in raw.values()))
    sharpest = max(max(r.sharpness for r in raw.values()), 1e-6)
    rel = {s: float(np.min(r.openness / np.maximum(widest, 1e-6))) for s, r in raw.items()}
    seen = [r for s, r in raw.items() if rel[s] >= EYES_OPEN] or list(raw.values())
    yaw0 = float(np.median([r.yaw for r in seen]))
    # With fewer than three open-eyed shots the median cannot tell which one looks away:
    # one more vote then for eyes turned against the head's yaw (a camera ahead).
    votes = [r.eye_angle for r in seen] + ([-yaw0] if len(seen) < 3 else [])
    eye0 = float(np.median(votes))
    pitch0 = float(np.median([r.pitch for r in seen]))
    out = {}
    for shot, r in raw.items():
        eyes = float(np.clip((rel[shot] - 0.3) / (EYES_OPEN - 0.3), 0, 1))
        look = float(np.exp(-0.5 * ((r.eye_angle - eye0) / EYE_SIGMA) ** 2))
        head = float(np.exp(-0.5 * (((r.yaw - yaw0) / HEAD_SIGMA) ** 2 + ((r.pitch - pitch0) / HEAD_SIGMA) ** 2
                                    + (r.gaze / ABSOLUTE_SIGMA) ** 2)))
        mouth = float(np.clip(r.smile / broadest, 0, 1))
        sharp = float(min(1.0, r.sharpness / sharpest / 0.7))
        clear = float(np.clip(1 - r.occlusion, 0, 1))
        out[shot] = dataclasses.replace(r, eyes=eyes, look=look, head=head, mouth=mouth, sharp=sharp, clear=clear)
    return out


def plan_face(scores: dict[int, FaceScore], base: int) -> tuple[dict[str, int], str]:
    """Which shot each part of one face should come from, with the reason.

    Returns:
        ``({"all": shot} | {"eyes": shot, "mouth": shot} | {}, reason)``; empty keeps the
        base shot's face.
    """
    b = scores[base]

    def eye_value(s):
        return scores[s].eye_part * scores[s].source

    def mouth_value(s):
        return scores[s].mouth_part * scores[s].source

    se = max(scores, key=lambda s: (eye_value(s), s == base))
    sm = max(scores, key=lambda s: (mouth_value(s), s == base))
    need_eyes = eye_value(se) - eye_value(base) > MARGIN
    # A smile must also be clearly broader in code units: edits and pose read back with
    # ~0.05 of noise, which is a large fraction of a faint smile's score.
    need_mouth = mouth_value(sm) - mouth_value(base) > MARGIN and scores[sm].smile - b.smile > SMILE_STEP
    if not need_eyes and not need_mouth:
        return {}, "best in the base shot"
    # One shot good enough for both parts: take all regions from it (eyes and mouth of
    # one moment go together). Good enough: within 2 MARGIN of the best for a part that
    # needs replacing, of the base for one that does not (real shots of one person differ
    # in head pose by a few degrees, which moves the looking score by up to ~0.2).
    eye_goal = eye_value(se if need_eyes else base) - 2 * MARGIN
    mouth_goal = mouth_value(sm if need_mouth else base) - 2 * MARGIN
    candidates = [s for s in scores if s != base and eye_value(s) >= eye_goal and mouth_value(s) >= mouth_goal]
    if candidates:
        one = max(candidates, key=lambda s: scores[s].total * scores[s].source)
        parts, eyes_from, mouth_from = {"all": one}, one, one
    else:
        parts, eyes_from, mouth_from = {}, se, sm
        if need_eyes:
            parts["eyes"] = se
        if need_mouth:
            parts["mouth"] = sm
    why = []
    src = scores[eyes_from if need_eyes else mouth_from]
    if b.sharp < 0.8 and src.sharp > b.sharp:
        why.append(f"blurred in the base shot (sharpness score {b.sharp:.2f}; {src.sharp:.2f} in shot "
                   f"{eyes_from if need_eyes else mouth_from})")
    if b.clear < 0.8 and src.clear > b.clear:
        why.append(f"occluded in the base shot (clear score {b.clear:.2f})")
    if need_eyes:
        s = scores[eyes_from]
        if b.eyes < EYES_CLOSED and s.eyes > b.eyes:
            why.append(f"eyes {'closed' if b.eyes < 0.3 else 'half closed'} in the base shot "
                       f"(eyes-open score {b.eyes:.2f}; {s.eyes:.2f} in shot {eyes_from})")
        elif s.look - b.look > MARGIN:
            why.append(f"looks at the camera in shot {eyes_from} (eyes turned {s.eye_angle:+.0f} deg against "
                       f"{b.eye_angle:+.0f} in the base shot)")
    if need_mouth:
        why.append(f"smiles in shot {mouth_from} (smile {scores[mouth_from].smile:.2f} against {b.smile:.2f})")
    if not why:
        best = eyes_from if need_eyes else mouth_from
        why.append(f"better in shot {best} (total score {scores[best].total:.2f} against {b.total:.2f})")
    return parts, "; ".join(why)


def _source(parts: dict[str, int], base: int) -> int | list[int]:
    shots = sorted(set(parts.values()))
    if not shots:
        return base
    return shots[0] if len(shots) == 1 else shots


@dataclass(frozen=True, eq=False)
class _PairedBurst(Burst):
    """A :class:`Burst` whose partner faces are already known (paired once for the group)."""

    known: tuple = ()

    def partners(self, state):
        out = []
        for (partner_index, shot) in zip(self.known, self.shots):
            out.append((shot.session.faces[partner_index], shot))
        return out


def _sessions(shots, say: Progress) -> list:
    from ..session import Session

    out = []
    for i, shot in enumerate(shots):
        if isinstance(shot, Session):
            out.append(shot)
            continue
        pixels = getattr(shot, "pixels", shot)
        if not isinstance(pixels, np.ndarray):
            raise InputError(f"shot {i} is not a photo (an (H, W, 3) array, a Photo or a Session)", param="shots")
        say(f"analysing shot {i}")
        out.append(Session(shot, name=f"shot {i}"))
    return out


def group(sessions: Sequence) -> tuple[int, list[dict[int, int]]]:
    """Pair the faces of every shot with those of the reference shot (the first with most faces).

    Returns:
        ``(reference, pairs)``: ``pairs[s]`` maps a reference face index (a *person*) to
        the face index in shot ``s``; people missing from a shot are absent from its map.
    """
    from .. import identity

    reference = max(range(len(sessions)), key=lambda s: (len(sessions[s].faces), -s))
    ref = sessions[reference]
    pairs = []
    for s, sess in enumerate(sessions):
        if s == reference:
            pairs.append({i: i for i in range(len(ref.faces))})
            continue
        if not sess.faces:
            pairs.append({})
            continue
        raw = ref.partners(sess)
        kept = {}
        for i, j in raw.items():
            dist = identity.descriptor_distance(ref.faces[i].plain_descriptor, sess.faces[j].plain_descriptor)
            if dist > SAME_PERSON_PLAIN:
                log.info("shot %d face %d is not face %d of shot %d (identity distance %.2f)",
                         s, j, i, reference, dist)
                continue
            kept[i] = j
        pairs.append(kept)
    return reference, pairs


def best_take(shots: Sequence, *, base: int | None = None,
              progress: Progress | None = None) -> tuple[np.ndarray, list[dict]]:
    """Combine a burst of group shots so that every face is at its best.

    Args:
        shots: two or more photos of the same group taken moments apart: ``(H, W, 3)``
            ``uint8``/``uint16`` RGB arrays, :class:`mien.io.Photo`\\ s or
            :class:`mien.session.Session`\\ s. Shots may differ in size and framing.
        base: index of the shot to build on; ``None`` chooses the one needing the fewest
            replacements (ties: the best total score).
        progress: called with a short stage description as work proceeds.

    Returns:
        ``(pixels, report)``: ``pixels`` is ``(H, W, 3)`` of the base shot's dtype and size;
        outside the replaced faces it is bit-identical to the base shot. ``report`` has one
        dict per person, left to right in the base shot: ``face`` (index in the base shot,
        ``None`` if the person is not in it), ``person`` (index in the reference shot),
        ``base`` (the base shot),
        ``from`` (the shot the face comes from: the base when kept, ``None`` when missing),
        ``regions`` (``{"all": shot}``, ``{"eyes": shot, "mouth": shot}`` or ``{}``),
        ``reason`` (words) and ``scores`` (``{shot: {eyes, look, mouth, sharp, clear,
        total}}``). ``from`` is a list of shots when eyes and mouth come from different ones.

    Raises:
        InputError: fewer than two shots, or ``base`` out of range.
        NoFaceError: the shots hold no face, or the base shot has none.
        FaceMismatchError: faces cannot be paired unambiguously between shots.
    """
    say = progress or (lambda _m: None)
    shots = list(shots)
    if len(shots) < 2:
        raise InputError(f"best take needs at least two shots of the same group, got {len(shots)}",
                         param="shots", allowed="2 or more photos")
    if base is not None:
        try:
            base = int(base)
        except (TypeError, ValueError):
            raise InputError(f"base must be a shot number, got {base!r}", param="base") from None
        if not 0 <= base < len(shots):
            raise InputError(f"base shot {base} does not exist: there are {len(shots)} shots, numbered 0 to "
                             f"{len(shots) - 1}", param="base", allowed=f"0 to {len(shots) - 1}")
    sessions = _sessions(shots, say)
    if not any(s.faces for s in sessions):
        raise NoFaceError("no face found in any shot; use photos where the faces are visible")
    if base is not None and not sessions[base].faces:
        raise NoFaceError(f"no face found in the base shot {base}; choose another base", param="base")
    say("pairing faces across shots")
    reference, pairs = group(sessions)
    people = range(len(sessions[reference].faces))

    say("scoring faces")
    scores: dict[int, dict[int, FaceScore]] = {}
    for person in people:
        raw = {s: measure(sessions[s].faces[pairs[s][person]]) for s in range(len(sessions)) if person in pairs[s]}
        scores[person] = score_group(raw)

    complete = [s for s in range(len(sessions)) if all(p in pairs[s] for p in people)]
    if base is None:
        def cost(s):
            plans = [plan_face(scores[p], s)[0] for p in people]
            total = sum(scores[p][s].total for p in people)
            return (sum(1 for pl in plans if pl), -total, s)

        base = min(complete, key=cost)
        say(f"base shot {base}")
    log.info("best take: base shot %d of %d, reference shot %d", base, len(sessions), reference)

    base_session = sessions[base]
    out = base_session.pixels
    report = []
    from .. import render as renderer

    for person in people:
        entry_scores = {s: {"eyes": round(v.eyes, 3), "look": round(v.look, 3), "head": round(v.head, 3),
                            "eye_angle": round(v.eye_angle, 1), "mouth": round(v.mouth, 3),
                            "sharp": round(v.sharp, 3), "clear": round(v.clear, 3), "total": round(v.total, 3)}
                        for s, v in scores[person].items()}
        if person not in pairs[base]:
            report.append({"face": None, "person": person, "base": base, "from": None, "regions": {},
                           "reason": f"not in the base shot {base}: a face cannot be added",
                           "scores": entry_scores})
            continue
        face_index = pairs[base][person]
        parts, reason = plan_face(scores[person], base)
        if parts and base_session.faces[face_index].face.size < MIN_FACE_SIZE:
            parts, reason = {}, (f"kept: {reason}, but the face is only "
                                 f"{base_session.faces[face_index].face.size:.0f} px wide in the base shot "
                                 f"(at least {MIN_FACE_SIZE} px can be edited)")
        report.append({"face": face_index, "person": person, "base": base,
                       "from": _source(parts, base),
                       "regions": dict(parts), "reason": reason, "scores": entry_scores})
        if not parts:
            continue
        say(f"replacing face {face_index} ({', '.join(f'{r} from shot {s}' for r, s in parts.items())})")
        burst = _PairedBurst(tuple(Shot(sessions[s], (region,)) for region, s in parts.items()),
                             known=tuple(pairs[s][person] for s in parts.values()))
        state = base_session.faces[face_index]
        scene = state.lit(burst.scene(state))
        if not scene.changes_nothing:
            out = renderer.execute(out, renderer.plan(out, scene))
    report.sort(key=lambda r: (r["face"] is None, r["face"] if r["face"] is not None else r["person"]))
    return out, report


def explain(pixels: np.ndarray, report: list[dict], faces) -> np.ndarray:
    """An overlay of the result: each face's box, where it came from and its scores.

    Args:
        pixels: ``(H, W, 3)`` the result (uint8 or uint16 RGB).
        report: from :func:`best_take`.
        faces: the base shot's :class:`mien.face.Face` records.

    Returns:
        ``(H, W, 3)`` ``uint8`` RGB.
    """
    img = np.ascontiguousarray(_to_uint8(pixels).copy())
    for entry in report:
        if entry["face"] is None:
            continue
        face = faces[entry["face"]]
        x0, y0, x1, y1 = _crop(face)
        replaced = bool(entry["regions"])
        colour = (255, 140, 0) if replaced else (60, 220, 60)
        fs = max(0.35, (x1 - x0) / 450)  # a 44-character line spans ~2 face widths
        thick = max(1, round(fs * 2))
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, thick, cv2.LINE_AA)
        base_scores = entry["scores"]
        lines = [f"face {entry['face']}: " + (", ".join(f"{r} <- shot {s}" for r, s in entry["regions"].items())
                                              if replaced else "kept")]
        for s, v in sorted(base_scores.items()):
            mark = "*" if s == entry["base"] else " "
            lines.append(f"{mark}s{s} eyes {v['eyes']:.2f} look {v['look']:.2f} smile {v['mouth']:.2f} "
                         f"sharp {v['sharp']:.2f}")
        step = int(round(32 * fs))
        y = y1 + step
        x = max(0, (x0 + x1) // 2 - int(11 * fs * max(len(t) for t in lines)))
        for line in lines:
            cv2.putText(img, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, fs, (0, 0, 0), thick + 2, cv2.LINE_AA)
            cv2.putText(img, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, fs, colour, thick, cv2.LINE_AA)
            y += step
    return img

"""Keyframes: a video edit that changes over time, linear between keys (seed 003).

A :class:`Timeline` holds keyframes, each an :class:`~mien.controls.code.Edit` at a time
(seconds) or a frame number; between two keys the edit is interpolated linearly, before
the first key it is the first key's edit and after the last the last key's. Any control
of a photo edit may be keyframed, because an :class:`Edit` is linear in all of them.

Text form (``--keyframes``): comma-separated ``TIME:CONTROLS`` entries, for example
``"0s:none, 4s:happy@0.6, 12s:happy@0.6+blink=0.2, 13s:none"``.

- TIME: ``4s`` or ``4.5s`` (seconds), ``0:04`` or ``1:02.5`` (minutes:seconds), or
  ``96f`` (a frame number, from 0).
- CONTROLS, joined by ``+``: ``none`` (the clip as it is), an emotion with an optional
  intensity (``happy``, ``happy@0.6``; ``neutral`` removes the face's own expression),
  ``neutralize``, a numeric control (``smile=0.5``, ``gaze-x=-0.3``, ``yaw=5``,
  ``magnify=1.5``, ``keep=0.3``) or an Action Unit (``au12=0.8``, ``au43L=1``).

JSON form (a keyframe file): ``{"keyframes": [{"time": 4, "emotion": "happy",
"intensity": 0.6}, {"frame": 300, "smile": 0.4, "au": {"12": 0.5}}]}`` (or the list
alone); each key takes the keyword controls of :meth:`Request.from_controls`, with
``"time"`` in seconds (a number or a TIME string) or ``"frame"``.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..expression import EMOTION_NAMES
from .code import Edit, Request
from .registry import BY_NAME

_TIME = re.compile(r"^\s*(?:(?P<sec>\d+(?:\.\d*)?)\s*s|(?P<min>\d+):(?P<rest>\d{1,2}(?:\.\d*)?)|(?P<frame>\d+)\s*f)\s*$")
EMPTY_WORDS = ("none", "original", "off")
EXAMPLE = "0s:none, 4s:happy@0.6, 12s:happy@0.6, 13s:none"


@dataclass(frozen=True)
class Keyframe:
    """One key: an edit at a time in seconds, or at a frame number.

    Attributes:
        edit: what is asked at this key.
        seconds: time from the start of the clip, or ``None`` when given by ``frame``.
        frame: frame number from 0, or ``None`` when given by ``seconds``.
        text: how the user wrote it (for messages and the summary).
    """

    edit: Edit
    seconds: float | None = None
    frame: int | None = None
    text: str = ""

    def time(self, fps: float, frame_times: Sequence[float] | None = None) -> float:
        """The key's time in seconds: a frame key's own frame's time when ``frame_times``
        (every frame's time, in order) knows it, which is exact for variable-frame-rate
        clips; else frame / ``fps``."""
        if self.seconds is not None:
            return self.seconds
        if frame_times is not None and 0 <= self.frame < len(frame_times):
            return float(frame_times[self.frame])
        return self.frame / fps


class Timeline:
    """Keyframed edits, interpolated linearly.

    Args:
        keys: at least one keyframe, in any order.

    Raises:
        InputError: no keys, or two keys at the same time.
    """

    def __init__(self, keys: list[Keyframe] | tuple[Keyframe, ...]) -> None:
        if not keys:
            raise InputError(f"a timeline needs at least one keyframe, e.g. {EXAMPLE!r}", param="keyframes")
        self.keys = tuple(keys)
        # what self._resolved was made for: (fps, frame_times) (at() is called per frame)
        self._made_for: tuple | None = None
        self._resolved: list[tuple[float, Edit]] = []

    @classmethod
    def constant(cls, edit: Edit) -> "Timeline":
        """The same edit on every frame."""
        return cls([Keyframe(edit, seconds=0.0, text="whole clip")])

    @classmethod
    def parse(cls, text: str) -> "Timeline":
        """A timeline from its text form (module docstring).

        Raises:
            InputError: a malformed entry (``param="keyframes"``, the message names it).
        """
        entries = [e.strip() for e in str(text).split(",") if e.strip()]
        keys = []
        for entry in entries:
            if ":" not in entry:
                raise InputError(f"keyframe {entry!r} needs TIME:CONTROLS, e.g. '4s:happy@0.6'",
                                 param="keyframes", allowed=EXAMPLE)
            when, controls = entry.rsplit(":", 1)
            seconds, frame = _parse_time(when, entry)
            keys.append(Keyframe(_parse_controls(controls, entry), seconds, frame, entry))
        return cls(keys)

    @classmethod
    def from_json(cls, data: str | bytes | dict | list) -> "Timeline":
        """A timeline from its JSON form (module docstring): text or parsed JSON.

        Raises:
            InputError: not JSON, or a key without a time or with a bad control.
        """
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise InputError(f"the keyframe file is not JSON ({exc})", param="keyframes") from None
        items = data.get("keyframes") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise InputError('a keyframe file holds {"keyframes": [{"time": 4, "emotion": "happy"}, ...]}',
                             param="keyframes")
        keys = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InputError(f"keyframe {i} must be an object with a time and controls", param="keyframes")
            controls = dict(item)
            when_s, when_f = controls.pop("time", None), controls.pop("frame", None)
            if (when_s is None) == (when_f is None):
                raise InputError(f"keyframe {i} needs exactly one of 'time' (seconds) or 'frame'",
                                 param="keyframes")
            if when_f is not None:
                seconds, frame = None, _whole(when_f, f"keyframe {i}")
            elif isinstance(when_s, str):
                seconds, frame = _parse_time(when_s, f"keyframe {i}")
            else:
                seconds, frame = _seconds(when_s, f"keyframe {i}"), None
            if "au" in controls and not isinstance(controls["au"], dict):
                raise InputError(f'keyframe {i}: au must be an object of Action Units, like {{"12": 0.5}}',
                                 param="keyframes")
            try:
                edit = Request.from_controls(**controls).edit
            except TypeError as exc:
                raise InputError(f"keyframe {i}: {exc}", param="keyframes") from None
            except InputError as exc:
                raise InputError(f"keyframe {i}: {exc}", param="keyframes", allowed=exc.allowed) from None
            keys.append(Keyframe(edit, seconds, frame, json.dumps(item)))
        return cls(keys)

    @classmethod
    def load(cls, path: str | Path) -> "Timeline":
        """A keyframe file (JSON).

        Raises:
            InputError: the file is missing or malformed.
        """
        p = Path(path)
        if not p.is_file():
            raise InputError(f"keyframe file {p} does not exist", param="keyframes")
        return cls.from_json(p.read_text(encoding="utf-8"))

    def resolved(self, fps: float, frame_times: Sequence[float] | None = None) -> list[tuple[float, Edit]]:
        """``(seconds, edit)`` per key, sorted by time, for a clip at ``fps`` whose frames
        are at ``frame_times`` (if known; see :meth:`Keyframe.time`).

        Raises:
            InputError: two keys at the same time.
        """
        keys = sorted(((k.time(fps, frame_times), k) for k in self.keys), key=lambda tk: tk[0])
        for (t0, a), (t1, b) in zip(keys, keys[1:]):
            if abs(t1 - t0) < 1e-9:
                raise InputError(f"keyframes {a.text!r} and {b.text!r} are at the same time", param="keyframes")
        return [(t, k.edit) for t, k in keys]

    def at(self, seconds: float, fps: float, frame_times: Sequence[float] | None = None) -> Edit:
        """The edit at a time: linear between the keys around it, held before the first
        and after the last. ``frame_times``: every frame's time, for frame keys."""
        if self._made_for is None or self._made_for[0] != fps or self._made_for[1] is not frame_times:
            self._resolved, self._made_for = self.resolved(fps, frame_times), (fps, frame_times)
        keys = self._resolved
        times = [t for t, _ in keys]
        i = bisect_right(times, seconds)
        if i == 0:
            return keys[0][1]
        if i == len(keys):
            return keys[-1][1]
        (t0, a), (t1, b) = keys[i - 1], keys[i]
        return a.lerp(b, (seconds - t0) / (t1 - t0))

    @property
    def needs_current(self) -> bool:
        """Whether any key scales the face's current expression (magnify, keep, neutral)."""
        return any(k.edit.needs_current for k in self.keys)


def _parse_time(text: str, entry: str) -> tuple[float | None, int | None]:
    m = _TIME.match(text)
    if not m:
        raise InputError(f"keyframe {entry!r}: time {text.strip()!r} must be seconds ('4s', '4.5s'), "
                         "minutes:seconds ('0:04') or a frame number ('96f')", param="keyframes", allowed=EXAMPLE)
    if m["sec"] is not None:
        return float(m["sec"]), None
    if m["min"] is not None:
        if float(m["rest"]) >= 60:
            raise InputError(f"keyframe {entry!r}: {text.strip()!r} has {m['rest']} seconds past the minute; "
                             "write 1:15, not 0:75", param="keyframes", allowed=EXAMPLE)
        return int(m["min"]) * 60 + float(m["rest"]), None
    return None, int(m["frame"])


def _seconds(value, where: str) -> float:
    try:
        v = float(value)
        if not np.isfinite(v):
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"{where}: time must be a number of seconds, got {value!r}", param="keyframes") from None
    if not v >= 0:
        raise InputError(f"{where}: time must be 0 or more seconds, got {value!r}", param="keyframes")
    return v


def _whole(value, where: str) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0
            or int(value) != value):
        raise InputError(f"{where}: frame must be a whole number from 0, got {value!r}", param="keyframes")
    return int(value)


def _parse_controls(text: str, entry: str) -> Edit:
    """An :class:`Edit` from ``happy@0.6+smile=0.2+au12=0.5`` (module docstring)."""
    kwargs: dict = {}
    au: dict[str, float] = {}
    for token in (t.strip() for t in text.split("+")):
        low = token.lower()
        if not token:
            raise InputError(f"keyframe {entry!r}: empty control", param="keyframes", allowed=EXAMPLE)
        if low in EMPTY_WORDS:
            continue
        if low in ("neutralize", "neutralise"):
            kwargs["neutralize"] = True
            continue
        name, sep, value = low.partition("@") if "@" in low else low.partition("=")
        name = name.strip()
        if name in EMOTION_NAMES:
            if "emotion" in kwargs:
                raise InputError(f"keyframe {entry!r}: one emotion per key", param="keyframes")
            kwargs["emotion"] = name
            if sep:
                kwargs["intensity"] = _number(value, entry, token)
            continue
        if not sep or sep != "=":
            raise InputError(f"keyframe {entry!r}: {token!r} is not a control; use an emotion "
                             f"({', '.join(EMOTION_NAMES)}), none, neutralize, NAME=VALUE or auN=VALUE",
                             param="keyframes", allowed=EXAMPLE)
        if name.startswith("au"):
            au[token.strip()[2:].partition("=")[0].strip()] = _number(value, entry, token)
            continue
        key = name.replace("-", "_")
        if key not in BY_NAME or key == "intensity":
            raise InputError(f"keyframe {entry!r}: unknown control {name!r}", param="keyframes",
                             allowed=", ".join(n.replace("_", "-") for n in BY_NAME if n != "intensity"))
        kwargs[key] = _number(value, entry, token)
    return Request.from_controls(au=au, **kwargs).edit


def _number(value: str, entry: str, token: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"keyframe {entry!r}: {token!r} needs a number", param="keyframes") from None

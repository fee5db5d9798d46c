"""The vocabulary of single-photo edits: one registry of named controls.

Every numeric control (sliders, head rotations, emotion intensity, magnify, keep) is
declared once in :data:`CONTROLS` with its range, default, unit and help text. The CLI's
options, the ``edit`` docstring, the README's slider table (checked by a test) and later
the HTTP schema are all generated from it. :meth:`mien.controls.Request.from_controls`
validates every value against it.

Left and right are the subject's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError
from ..expression import MAX_INTENSITY, Expression


@dataclass(frozen=True)
class Control:
    """One named numeric control.

    Attributes:
        name: Python keyword (``gaze_x``); the CLI flag is ``--gaze-x``.
        low, high: accepted range (inclusive).
        default: the value that changes nothing.
        help: one line for ``--help``, docstrings and the web app.
        unit: ``""`` for unitless amounts, ``"degrees"`` for rotations.
        kind: ``"slider"`` (an expression direction), ``"rotation"`` (head turn) or
            ``"amount"`` (a parameter of another control: intensity, magnify, keep).
        plus: code at ``+1`` (sliders only).
        minus: code at ``-1``, or ``None`` when the slider has no negative side.
    """

    name: str
    low: float
    high: float
    default: float
    help: str
    unit: str = ""
    kind: str = "slider"
    plus: Mapping[str, float] | None = None
    minus: Mapping[str, float] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def range_text(self) -> str:
        """``"-15 to 15 degrees"``."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.low:g} to {self.high:g}{unit}"

    def check(self, value: float) -> float:
        """``value`` as a float, or :class:`InputError` naming the range."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{self.name} must be a number, got {value!r}",
                             param=self.name, allowed=self.range_text) from None
        if not self.low <= v <= self.high:
            unit = f" {self.unit}" if self.unit else ""
            raise InputError(f"{self.name} must be between {self.low:g} and {self.high:g}{unit}, got {value}",
                             param=self.name, allowed=self.range_text)
        return v

    def code(self, value: float) -> Expression:
        """The expression code of this slider at ``value``."""
        if self.kind != "slider" or not value:
            return Expression({})
        if value > 0:
            return Expression(dict(self.plus or {})) * value
        return Expression(dict(self.minus or {})) * -value


MAX_ROTATION = 15.0

#: Every numeric control, in the order ``--help`` lists them.
CONTROLS: tuple[Control, ...] = (
    Control("intensity", 0.0, MAX_INTENSITY, 1.0, "How much of the emotion: 0.5 an everyday one, 1 a clear posed one, 1.5 exaggerated.",
            kind="amount"),
    Control("smile", -1.0, 1.0, 0.0, "Smile (1) or frown (-1).", plus={"smile": 1.0}, minus={"15": 1.0}),
    Control("brows", -1.0, 1.0, 0.0, "Brows up (1) or down (-1).",
            plus={"1": 0.8, "2": 0.8}, minus={"4": 1.0}),
    Control("inner_brows", -1.0, 1.0, 0.0, "Inner brows up (1) or down (-1).",
            plus={"1": 1.0}, minus={"4": 0.7}),
    Control("blink", -1.0, 1.0, 0.0, "Eyes closed (1) or wide (-1).", plus={"43": 1.0}, minus={"5": 1.0}),
    Control("wink_left", 0.0, 1.0, 0.0, "Close the subject's left eye.", plus={"43L": 1.0}),
    Control("wink_right", 0.0, 1.0, 0.0, "Close the subject's right eye.", plus={"43R": 1.0}),
    Control("aaa", 0.0, 1.0, 0.0, "Open mouth, as in 'aaa'.", plus={"25": 1.0, "26": 0.8}),
    Control("eee", 0.0, 1.0, 0.0, "Wide mouth, as in 'eee'.", plus={"20": 0.8, "25": 0.8, "12": 0.3}),
    Control("ooo", 0.0, 1.0, 0.0, "Rounded lips, as in 'ooo'.", plus={"pucker": 1.0, "25": 0.6, "26": 0.3}),
    Control("lip_press", 0.0, 1.0, 0.0, "Press the lips together.", plus={"24": 1.0, "23": 0.5}),
    Control("gaze_x", -1.0, 1.0, 0.0, "Look toward the subject's left (1) or right (-1).",
            plus={"gaze_x": 1.0}, minus={"gaze_x": -1.0}),
    Control("gaze_y", -1.0, 1.0, 0.0, "Look up (1) or down (-1); the lids follow.",
            plus={"gaze_y": 1.0}, minus={"gaze_y": -1.0}),
    Control("yaw", -MAX_ROTATION, MAX_ROTATION, 0.0, "Turn the head; positive toward the image's right.",
            unit="degrees", kind="rotation"),
    Control("pitch", -MAX_ROTATION, MAX_ROTATION, 0.0, "Nod the head; positive looks down.",
            unit="degrees", kind="rotation"),
    Control("roll", -MAX_ROTATION, MAX_ROTATION, 0.0, "Tilt the head; positive clockwise.",
            unit="degrees", kind="rotation"),
    Control("magnify", 0.0, 3.0, 1.0, "Scale the current expression: 2 doubles it, 0.5 halves it.",
            kind="amount"),
    Control("keep", 0.0, 1.0, 1.0, "Keep this fraction of the current expression (0 neutralises).",
            kind="amount"),
)

BY_NAME: dict[str, Control] = {c.name: c for c in CONTROLS}
#: Controls that move the face: expression sliders and head rotations.
SLIDERS: tuple[str, ...] = tuple(c.name for c in CONTROLS if c.kind == "slider")
ROTATIONS: tuple[str, ...] = tuple(c.name for c in CONTROLS if c.kind == "rotation")
MOVING: tuple[str, ...] = SLIDERS + ROTATIONS


def parse_aus(values: list[str]) -> dict[str, float]:
    """``["12=0.8", "6L=0.4"]`` as ``{"12": 0.8, "6L": 0.4}`` (an ``AU`` prefix is allowed).

    Raises:
        InputError: an item without ``=`` or with an amount that is not a number.
    """
    out = {}
    for item in values:
        name, sep, amount = item.partition("=")
        if not sep:
            raise InputError(f"au takes NUMBER=INTENSITY such as 12=0.8, got {item!r}", param="au")
        try:
            out[name.strip().upper().removeprefix("AU")] = float(amount)
        except ValueError:
            raise InputError(f"au {item!r}: the intensity must be a number", param="au") from None
    return out


def docstring_section(indent: str = "        ") -> str:
    """The slider and rotation controls as docstring lines (one per control)."""
    return "\n".join(f"{indent}{c.name}: {c.help} ({c.range_text})" for c in CONTROLS
                     if c.kind != "amount")

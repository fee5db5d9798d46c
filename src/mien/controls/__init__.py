"""Controls: each turns what a user asks into a :class:`~mien.scene.Scene` per face.

- :class:`Request` (:mod:`.code`): emotions, Action Units, sliders, magnify, keep, saved
  expressions; the vocabulary of numeric controls is :mod:`.registry`.
- :class:`Burst` (:mod:`.burst`): expressions, or some regions of them, from other shots
  of the same person.
"""

from .burst import Burst, Shot, parse_regions
from .code import Request
from .registry import CONTROLS, Control

__all__ = ["Request", "Burst", "Shot", "parse_regions", "CONTROLS", "Control"]

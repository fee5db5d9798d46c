"""Errors raised by mien.

Every error a user can cause is a :class:`MienError`; its message is one line that says
what went wrong and what to do about it. The CLI prints that line and exits with code 2.
"""

from __future__ import annotations


class MienError(Exception):
    """Base class of every error mien raises on purpose.

    Attributes:
        param: the argument or control at fault (``"intensity"``, ``"face"``), if one is;
            a server turns it into a field error without parsing the message.
        allowed: what would have been accepted (``"0 to 1.5"``, ``"happy, sad, ..."``).
    """

    def __init__(self, message: str, *, param: str | None = None, allowed: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.allowed = allowed


class InputError(MienError, ValueError):
    """An input file, array or argument cannot be used as given."""


class NoFaceError(InputError):
    """No usable face was found where one was needed."""


class FaceMismatchError(InputError):
    """Faces in two photos do not look like the same person, or cannot be paired."""


class MissingDependencyError(MienError, ImportError):
    """An optional part of mien is not installed; the message names the install command."""

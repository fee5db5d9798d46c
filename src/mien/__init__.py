"""mien: edit facial expressions in portrait photos at full resolution, on a CPU.

``import mien`` loads no model; MediaPipe loads on the first analysis and is reused.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import FaceMismatchError, InputError, MienError, MissingDependencyError, NoFaceError

__all__ = [
    "__version__",
    "MienError",
    "InputError",
    "NoFaceError",
    "FaceMismatchError",
    "MissingDependencyError",
    "analyze",
    "read_photo",
    "write_photo",
    "transfer",
    "transfer_files",
]


def __getattr__(name: str):
    # Lazy exports keep `import mien` light (no OpenCV or MediaPipe until needed).
    if name == "analyze":
        from .face import analyze

        return analyze
    if name in ("read_photo", "write_photo"):
        from . import io

        return getattr(io, name)
    if name in ("transfer", "transfer_files"):
        from . import transfer

        return getattr(transfer, name)
    raise AttributeError(f"module 'mien' has no attribute {name!r}")

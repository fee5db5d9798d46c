"""mien: edit facial expressions in portrait photos at full resolution, on a CPU.

``import mien`` loads no model; MediaPipe loads on the first analysis and is reused.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    FaceMismatchError,
    InputError,
    MienError,
    MissingDependencyError,
    NoFaceError,
)

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
    "edit",
    "edit_files",
    "sweep",
    "edit_video",
    "reenact",
    "Timeline",
    "interpolate",
    "Interpolator",
    "interpolate_files",
    "best_take",
    "batch",
    "Expression",
    "preview",
    "Session",
    "Request",
    "Burst",
    "Shot",
    "Scene",
]


_LAZY = {
    "analyze": "mien.detect",
    "read_photo": "mien.io",
    "write_photo": "mien.io",
    "transfer": "mien.api",
    "transfer_files": "mien.api",
    "edit": "mien.api",
    "edit_files": "mien.api",
    "sweep": "mien.api",
    "edit_video": "mien.clip",
    "reenact": "mien.clip",
    "Timeline": "mien.controls.timeline",
    "interpolate": "mien.controls.interpolate",
    "Interpolator": "mien.controls.interpolate",
    "interpolate_files": "mien.controls.interpolate",
    "best_take": "mien.controls.best_take",
    "preview": "mien.api",
    "Expression": "mien.expression",
    "Session": "mien.session",
    "Request": "mien.controls",
    "Burst": "mien.controls",
    "Shot": "mien.controls",
    "Scene": "mien.scene",
}


def __getattr__(name: str):
    # Lazy exports keep `import mien` light (no OpenCV or MediaPipe until needed).
    if name == "batch":  # the module itself: mien.batch.run(...)
        import importlib

        module = importlib.import_module("mien.batch")
        globals()[name] = module
        return module
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mien' has no attribute {name!r}")

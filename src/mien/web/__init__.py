"""mien's local web app: an HTTP API (FastAPI) and the page that uses it.

Needs the ``web`` extra (``pip install 'mien[web]'``). The library never imports this
package; it imports the library. Run it with ``mien serve`` (127.0.0.1:7860 by default).
"""

from __future__ import annotations

from ..errors import MissingDependencyError


def create_app(**options):
    """The FastAPI application (see :func:`mien.web.app.create_app` for the options).

    Raises:
        MissingDependencyError: FastAPI, uvicorn or python-multipart is not installed.
    """
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart: form uploads)
    except ImportError as exc:
        raise MissingDependencyError(f"the web app needs the web extra ({exc.name} is missing): "
                                     "pip install 'mien[web]'") from None
    from .app import create_app as build

    return build(**options)


__all__ = ["create_app"]

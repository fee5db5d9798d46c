"""Uploads for the web app: type sniffed from the first bytes, size limited while the
body streams in, saved under names the server makes (no path from a request ever
reaches the file system).

Limits are checked twice: :class:`BodyLimit` (an ASGI middleware) refuses a body whose
``Content-Length`` is over the route's limit before reading it, and counts the bytes of
a body without one (chunked) as they arrive, answering 413 as soon as the count passes
the limit; :func:`save_upload` then checks each file's own size. Starlette spools each
file part to disk past 1 MB, so an upload never sits in memory whole.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool


class ApiError(Exception):
    """An error the server answers with ``status`` and a JSON body
    ``{"error", "param", "allowed"}``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, allowed: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.allowed = allowed


def error_body(message: str, param: str | None = None, allowed: str | None = None) -> dict:
    """The JSON body of every error answer."""
    return {"error": message, "param": param, "allowed": allowed}


#: Photo formats accepted: those mien reads *and* writes, so that an edit comes back in
#: the photo's own format. ``{format: extension}``.
PHOTO_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "HEIF": ".heic"}
PHOTO_ALLOWED = "JPEG, PNG, WebP, TIFF or HEIC"
VIDEO_ALLOWED = "MP4, MOV, MKV, WebM or AVI"
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
               "HEIF": "image/heic"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


def sniff_photo(head: bytes) -> str | None:
    """The photo format of a file from its first bytes (``"JPEG"``, ...), or ``None``."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


def sniff_video(head: bytes) -> str | None:
    """A video container's file extension from its first bytes (``".mp4"``, ...), or ``None``."""
    if head[4:8] == b"ftyp" and head[8:12] not in _HEIF_BRANDS:
        return ".mov" if head[8:12] == b"qt  " else ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".mkv"
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return ".avi"
    return None


def safe_stem(filename: str | None, default: str = "photo") -> str:
    """A file stem for ``Content-Disposition`` only: ASCII letters, digits, ``-_.``."""
    stem = Path(str(filename or "")).stem if filename else ""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._")[:80]
    return stem or default


@dataclass(frozen=True)
class Saved:
    """An upload saved by :func:`save_upload`.

    Attributes:
        path: where it was saved (a name the server made).
        kind: the photo format (``"JPEG"``) or the video extension (``".mp4"``).
        stem: the client's file name, made safe, for download names only.
        size: bytes.
    """

    path: Path
    kind: str
    stem: str
    size: int


def _size_text(n: int) -> str:
    return f"{n / 1e9:g} GB" if n >= 1e9 else f"{n / 1e6:g} MB"


async def save_upload(upload, folder: Path, name: str, *, video: bool, limit: int, field: str) -> Saved:
    """Check an uploaded file's type (first bytes) and size, then copy it to
    ``folder / name / (the client's file stem, made safe, + the extension of its type)``,
    so that messages name the photo as the CLI would (``photo neutral.jpg``).

    Raises:
        ApiError: 415 not a photo/video of a known type; 413 larger than ``limit`` bytes;
            422 empty.
    """
    head = await upload.read(64)
    await upload.seek(0)
    if not head:
        raise ApiError(422, f"{field}: the file is empty", param=field)
    if video:
        kind = sniff_video(head)
        if kind is None:
            what = "a photo; upload it as a photo, not a video" if sniff_photo(head) else "not a video mien can read"
            raise ApiError(415, f"{field}: {what} (use {VIDEO_ALLOWED})", param=field, allowed=VIDEO_ALLOWED)
        ext = kind
    else:
        kind = sniff_photo(head)
        if kind is None:
            what = "a video, not a photo" if sniff_video(head) else "not a photo mien can read"
            raise ApiError(415, f"{field}: {what} (use {PHOTO_ALLOWED})", param=field, allowed=PHOTO_ALLOWED)
        ext = PHOTO_FORMATS[kind]
    size = upload.size
    if size is None:  # not told by the parser: measure it
        upload.file.seek(0, 2)
        size = upload.file.tell()
        upload.file.seek(0)
    if size > limit:
        raise ApiError(413, f"{field}: {_size_text(size)} is larger than the {_size_text(limit)} allowed",
                       param=field, allowed=f"at most {_size_text(limit)}")
    stem = safe_stem(upload.filename, "video" if video else "photo")
    (folder / name).mkdir(parents=True, exist_ok=True)
    path = folder / name / f"{stem}{ext}"

    def copy() -> None:
        upload.file.seek(0)
        with open(path, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)

    await run_in_threadpool(copy)
    return Saved(path, kind, stem, size)


def without_paths(message: str, root: Path) -> str:
    """``message`` with every path under ``root`` (the server's scratch folder) cut to its
    file name: errors never show where the server keeps files."""
    return re.sub(re.escape(str(root)) + r"/(?:[^\s/]+/)*", "", message)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit_for(path)`` bytes with 413,
    from ``Content-Length`` before reading, else while counting the streamed bytes."""

    def __init__(self, app, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                n = 0
            if n > limit:
                await _send_413(send, n, limit)
                return
        state = {"received": 0, "exceeded": False, "started": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["exceeded"] = True
                    raise _TooLarge()
            return message

        async def guarded_send(message):
            if state["exceeded"]:
                return  # the app's answer to the broken body is replaced by 413 below
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["exceeded"]:
                raise
        if state["exceeded"] and not state["started"]:
            await _send_413(send, None, limit)


async def _send_413(send, size: int | None, limit: int) -> None:
    said = f"{_size_text(size)} is" if size is not None else "the upload is"
    body = json.dumps(error_body(f"{said} larger than the {_size_text(limit)} allowed", "body",
                                 f"at most {_size_text(limit)}")).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})

"""The web app's HTTP API (FastAPI): sessions, previews, renders, one-call edits and
transfers, video jobs, presets; and the page (``static/``).

``create_app()`` builds the application; ``mien serve`` runs it with uvicorn on
127.0.0.1. Every error is JSON ``{"error": one line, "param": the field at fault,
"allowed": what would be accepted}`` with 422 (bad value, no face, unknown control), 413
(too large), 415 (not an image/video), 404 (unknown session/job), 409 (a stale preview,
or a job not done) or 500 (logged; never a stack trace).

CPU work runs off the event loop: uploads, renders, edits and transfers in a bounded
``compute`` pool, previews in their own small pool (so slider previews do not queue
behind full-resolution renders), video jobs in one worker thread (:mod:`.jobs`).
Renders write exactly what the CLI writes: the same library calls
(:func:`mien.api.edit_files`, :func:`mien.api.transfer_files`, or a held session's
render written with :func:`mien.io.write_photo` like the uploaded photo).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Optional
from urllib.parse import urlsplit

import cv2
import numpy as np
from fastapi import FastAPI, File, Form, Request as HttpRequest, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..controls import Burst, Request, Shot
from ..controls.registry import CONTROLS, MOVING
from ..errors import MienError, NoFaceError
from ..expression import EMOTION_NAMES, model
from ..image import from_float, to_float
from .jobs import JobManager
from .store import Entry, SessionStore
from .uploads import (MEDIA_TYPES, PHOTO_FORMATS, ApiError, BodyLimit, Saved, error_body, save_upload,
                      without_paths)

log = logging.getLogger(__name__)

MB = 1_000_000
#: Largest photo upload (bytes) and largest video upload.
MAX_PHOTO_BYTES = 100 * MB
MAX_VIDEO_BYTES = 2000 * MB
#: Longest side of the photo served for display.
DISPLAY_PX = 1600
PREVIEW_PX = 256
REGIONS = ("mouth", "eyes", "brows", "all")
#: Keys of ``controls`` besides the registry's sliders and rotations.
CONTROL_KEYS = ("emotion", "intensity", "au", "magnify", "keep", "neutralize", "keep_mouth")
ALLOWED_CONTROLS = ", ".join((*CONTROL_KEYS, *MOVING))
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
STATIC = Path(__file__).with_name("static")

PLACEHOLDER = """<!doctype html><html lang="en"><meta charset="utf-8"><title>mien</title>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>mien</h1><p>The page is not installed yet (<code>mien/web/static/index.html</code> is missing).
The HTTP API works: see <a href="/docs">/docs</a>.</p></body></html>"""


# -- request bodies ----------------------------------------------------------------------

class BurstBody(BaseModel):
    """Regions from other uploaded sessions of the same person."""

    model_config = ConfigDict(extra="forbid")
    eyes: Optional[str] = Field(None, description="session id whose eyes to take")
    mouth: Optional[str] = Field(None, description="session id whose mouth to take")
    brows: Optional[str] = Field(None, description="session id whose brows to take")
    strength: float = Field(1.0, description="0 keeps the photo, 1 the full expression")
    force: bool = Field(False, description="transfer even if the faces look like different people")


class EditBody(BaseModel):
    """What to do to one face of a session."""

    model_config = ConfigDict(extra="forbid")
    face: int | str = Field(0, description="face number from the left (render also takes 'all')")
    controls: dict[str, Any] = Field(default_factory=dict,
                                     description="Request.from_controls keywords: " + ALLOWED_CONTROLS)
    burst: Optional[BurstBody] = None
    seq: Optional[int] = Field(None, description="increasing per session; older previews are skipped (409)")


class PresetBody(BaseModel):
    """A preset file as the page saves it."""

    model_config = ConfigDict(extra="allow")
    mien_preset: int = Field(description="the preset format's version: 1")
    controls: dict[str, Any] = Field(default_factory=dict, description="Request.from_controls keywords")



class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="one line: what went wrong and what to do")
    param: Optional[str] = Field(None, description="the field or control at fault")
    allowed: Optional[str] = Field(None, description="what would have been accepted")


_WHY = {403: "a POST from another site's page (Origin is not this server)",
        404: "unknown or expired session or job", 409: "a stale preview (newer seq seen), or a job not done",
        413: "upload too large", 415: "not a photo (JPEG, PNG, WebP, TIFF, HEIC) or video (MP4, MOV, MKV, WebM, AVI)",
        422: "bad value, unknown control, no face, different person", 503: "too many video jobs"}


def doc(*codes: int, media: str | None = None, what: str = "") -> dict:
    """OpenAPI ``responses`` for a route: its error codes and, for binary answers, the
    media type. (Any POST may also answer 403 to another site's page.)"""
    out: dict = {c: {"model": ErrorBody, "description": _WHY[c]} for c in codes}
    if media:
        out[200] = {"content": {media: {}}, "description": what or media}
    return out

# -- helpers -----------------------------------------------------------------------------

def control_kwargs(controls: Any, param: str = "controls") -> dict:
    """``controls`` checked against the registry: the keyword arguments of
    :meth:`Request.from_controls` (unknown names refused, even with a zero value)."""
    if not isinstance(controls, dict):
        raise ApiError(422, f"{param} must be a JSON object of control names and values", param=param,
                       allowed=ALLOWED_CONTROLS)
    out = {}
    for key, value in controls.items():
        if key not in CONTROL_KEYS and key not in MOVING:
            raise ApiError(422, f"unknown control {key!r}", param=str(key), allowed=ALLOWED_CONTROLS)
        if key in ("neutralize", "keep_mouth"):
            if not isinstance(value, bool):
                raise ApiError(422, f"{key} must be true or false, got {value!r}", param=key, allowed="true, false")
        elif key == "au":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ApiError(422, 'au must be an object such as {"12": 0.8}', param="au")
        elif key == "emotion":
            if value is not None and not isinstance(value, str):
                raise ApiError(422, f"emotion must be a name, got {value!r}", param="emotion",
                               allowed=", ".join(EMOTION_NAMES))
        elif key in ("magnify", "keep") and value is None:
            pass
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(422, f"{key} must be a number, got {value!r}", param=key)
        out[key] = value
    return out


def build_request(controls: Any, param: str = "controls") -> Request:
    return Request.from_controls(**control_kwargs(controls, param))


def parse_json_field(text: str | None, param: str) -> Any:
    if text is None or not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApiError(422, f"{param} is not JSON ({exc})", param=param) from None


def jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """``(H, W, 3)`` RGB (uint8/uint16, or float32 in [0, 1]) as JPEG bytes."""
    if pixels.dtype != np.uint8:
        pixels = from_float(to_float(pixels) if pixels.dtype != np.float32 else pixels, np.uint8)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def display_copy(pixels: np.ndarray, longest: int = DISPLAY_PX) -> tuple[np.ndarray, float]:
    """The photo shrunk so its longest side is at most ``longest``; and the scale."""
    h, w = pixels.shape[:2]
    scale = min(1.0, longest / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        scale = size[0] / w
    return pixels, scale


def session_json(entry: Entry) -> dict:
    """The answer to an upload: size, format and faces (codes read once, in the pool)."""
    h, w = entry.session.pixels.shape[:2]
    return {"id": entry.id, "name": entry.stem, "width": w, "height": h, "format": entry.photo.format,
            "faces": [face_json(s) for s in entry.session.faces]}


def face_json(state) -> dict:
    f = state.face
    return {"index": f.index, "box": [round(float(v), 1) for v in f.box], "size": round(f.size, 1),
            "code": {k: round(float(v), 4) for k, v in state.code.values.items()}}


_LEFT_EYE = (159, 145, 33, 133)
_RIGHT_EYE = (386, 374, 362, 263)


def suggestion(state) -> dict:
    """Cues for picking the best shot per region of one face: ``eyes_open`` (0 closed,
    1 open: lid gap over eye width, 0.05 closed to 0.30 and more open; London and lisa
    open eyes measure 0.27-0.45), ``smile`` (the code's smile and AU12), and
    ``sharpness`` (Laplacian variance of the face at 256 px across; compare between shots)."""
    p = state.face.points.astype(np.float64)
    ratios = [np.linalg.norm(p[a] - p[b]) / max(np.linalg.norm(p[c] - p[d]), 1e-6)
              for a, b, c, d in (_LEFT_EYE, _RIGHT_EYE)]
    eyes_open = float(np.clip((np.mean(ratios) - 0.05) / 0.25, 0.0, 1.0))
    code = state.code.values
    smile = float(code.get("smile", 0.0) + code.get("12", 0.0))
    x0, y0, x1, y1 = (int(round(v)) for v in state.face.box)
    h, w = state.pixels.shape[:2]
    crop = state.pixels[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
    sharp = 0.0
    if crop.size:
        grey = cv2.cvtColor(from_float(to_float(crop), np.uint8) if crop.dtype != np.uint8 else crop,
                            cv2.COLOR_RGB2GRAY)
        scale = 256 / max(grey.shape[1], 1)
        grey = cv2.resize(grey, (256, max(1, round(grey.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        sharp = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return {"index": state.index, "eyes_open": round(eyes_open, 3), "smile": round(smile, 3),
            "sharpness": round(sharp, 1)}


def _changes_something(kwargs: dict) -> bool:
    defaults = {c.name: c.default for c in CONTROLS}
    for key, value in kwargs.items():
        if key in ("emotion",) and value:
            return True
        if key == "au" and value:
            return True
        if key in ("neutralize", "keep_mouth") and value:
            return True
        if key in defaults and value is not None and key != "intensity" and float(value) != defaults[key]:
            return True
    return False


def attachment(stem: str, ext: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{stem}-mien{ext}"'}


# -- the app -----------------------------------------------------------------------------

def create_app(*, max_photo_bytes: int = MAX_PHOTO_BYTES, max_video_bytes: int = MAX_VIDEO_BYTES,
               max_sessions: int = 32, session_ttl: float = 3600.0, max_session_bytes: int = 2_000_000_000,
               workers: int = 2, preview_workers: int = 2,
               max_jobs: int = 16, allowed_hosts: tuple[str, ...] | None = LOCAL_HOSTS,
               static_dir: str | Path | None = None, tmp_dir: str | Path | None = None,
               warm_up: bool = True) -> FastAPI:
    """The mien web application.

    Args:
        max_photo_bytes, max_video_bytes: largest upload of each kind (413 beyond).
        max_sessions, session_ttl: the session LRU's size and idle lifetime (seconds);
            sessions used in the last 2 minutes are kept beyond the size, up to 4 times it
            (:class:`mien.web.store.SessionStore`).
        max_session_bytes: photo pixels the sessions may hold together (LRU beyond it).
        workers: threads for uploads, renders, edits and transfers.
        preview_workers: threads for live previews.
        max_jobs: video jobs kept (queued, running or finished).
        allowed_hosts: ``Host`` header values accepted (localhost names by default, which
            stops DNS-rebinding pages from reaching the API); ``None`` accepts any.
        static_dir: the page's files (default: the package's ``web/static``).
        tmp_dir: where uploads and results are kept while in use (a fresh folder by default;
            removed at shutdown).
        warm_up: at start-up, load the models and preview a bundled sample in the
            background (the first upload and its first previews are faster).
    """
    static = Path(static_dir) if static_dir is not None else STATIC
    own_tmp = tmp_dir is None
    tmp = Path(tempfile.mkdtemp(prefix="mien-web-")) if own_tmp else Path(tmp_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    store = SessionStore(max_sessions, session_ttl, max_session_bytes)
    jobs = JobManager(tmp / "jobs", max_jobs=max_jobs)
    compute = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mien-compute")
    previews = ThreadPoolExecutor(max_workers=preview_workers, thread_name_prefix="mien-preview")
    warming: list = []

    @asynccontextmanager
    async def lifespan(_app):
        if warm_up:
            warming.append(compute.submit(_warm_up))  # load the models before the first upload needs them
        yield
        jobs.close()
        compute.shutdown(wait=False, cancel_futures=True)
        previews.shutdown(wait=False, cancel_futures=True)
        if own_tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    app = FastAPI(title="mien", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Edit facial expressions in portrait photos at full resolution. Errors are JSON "
                              '{"error", "param", "allowed"}.')
    app.state.store, app.state.jobs, app.state.tmp = store, jobs, tmp

    def limit_for(path: str) -> int:
        slack = MB
        if path.startswith("/api/videos"):
            return max_video_bytes + slack
        if path == "/api/transfer":
            return 4 * max_photo_bytes + slack
        if path in ("/api/sessions", "/api/edit"):
            return max_photo_bytes + slack
        return slack

    app.add_middleware(BodyLimit, limit_for=limit_for)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    async def run(pool: ThreadPoolExecutor, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def scratch() -> Path:
        return Path(tempfile.mkdtemp(prefix="req-", dir=tmp))

    # -- errors ----------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_req, exc: ApiError):
        return JSONResponse(error_body(without_paths(str(exc), tmp), exc.param, exc.allowed), status_code=exc.status)

    @app.exception_handler(MienError)
    async def _mien_error(_req, exc: MienError):
        return JSONResponse(error_body(without_paths(str(exc), tmp), exc.param, exc.allowed), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path", "form", "header")]
        param = ".".join(loc) or None
        msg = first.get("msg", "invalid request")
        return JSONResponse(error_body(f"{param}: {msg}" if param else msg, param), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req, exc: StarletteHTTPException):
        return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.middleware("http")
    async def _catch_all(request: HttpRequest, call_next):
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD", "OPTIONS") and origin and origin != "null":
            # Another site's page posting to this server from the user's browser (it cannot
            # read the answer, but it could spend the CPU): only the page itself may post.
            if urlsplit(origin).netloc != request.headers.get("host", ""):
                return JSONResponse(error_body(f"requests from {origin} are refused; use the page this server "
                                               "serves", "origin"), status_code=403)
        try:
            return await call_next(request)
        except Exception:
            log.exception("internal error on %s %s", request.method, request.url.path)
            return JSONResponse(error_body("internal error; see the server log"), status_code=500)

    # -- page ------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index():
        page = static / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html")
        return HTMLResponse(PLACEHOLDER)

    app.mount("/static", StaticFiles(directory=static, check_dir=False), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return HTMLResponse(DOCS_PAGE)

    @app.get("/api/health", summary="Liveness: answers while renders run; warm once the models are loaded")
    async def health():
        return {"ok": True, "version": __version__, "sessions": len(store),
                "warm": all(f.done() for f in warming)}

    # -- controls --------------------------------------------------------------------

    @app.get("/api/controls", summary="The control registry, emotions, Action Units and regions")
    async def controls():
        aus = [n for n in model().directions if n[0].isdigit()]
        aus = sorted({n.rstrip("LR") for n in aus}, key=lambda n: int(n))
        return {"controls": [{"name": c.name, "low": c.low, "high": c.high, "default": c.default, "unit": c.unit,
                              "help": c.help, "kind": c.kind} for c in CONTROLS],
                "emotions": list(EMOTION_NAMES), "aus": aus, "regions": list(REGIONS)}

    @app.post("/api/presets/check", responses=doc(422), summary="Validate a preset file against the registry")
    async def check_preset(body: PresetBody):
        if body.mien_preset != 1:
            raise ApiError(422, f"unknown preset version {body.mien_preset}; this mien reads version 1",
                           param="mien_preset", allowed="1")
        kwargs = control_kwargs(body.controls)
        Request.from_controls(**kwargs)
        return {"ok": True, "controls": kwargs}

    # -- sessions --------------------------------------------------------------------

    @app.post("/api/sessions", status_code=201, responses=doc(413, 415, 422), summary="Upload a photo: faces, boxes and expression codes")
    async def create_session(photo: Annotated[UploadFile, File(description="JPEG, PNG, WebP, TIFF or HEIC")]):
        folder = scratch()
        try:
            saved = await save_upload(photo, folder, "photo", video=False, limit=max_photo_bytes, field="photo")
            entry = await run(compute, _open_session, store, saved)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return session_json(entry)

    @app.get("/api/sessions/{sid}", responses=doc(404), summary="A session's photo and faces again")
    async def get_session(sid: str):
        return session_json(store.get(sid))

    @app.get("/api/sessions/{sid}/photo", responses=doc(404, media="image/jpeg", what="the photo; header X-Scale"), summary="The photo for display (JPEG, longest side <= 1600 px)",
             response_class=Response)
    async def session_photo(sid: str):
        entry = store.get(sid)
        if entry.display is None:
            def shown() -> tuple[bytes, float]:
                small, scale = display_copy(entry.session.pixels)
                return jpeg(small), scale

            # Shrinking a 12 MP photo takes tens of milliseconds: never on the event loop.
            entry.display = await run(compute, shown)
        data, scale = entry.display
        return Response(data, media_type="image/jpeg", headers={"X-Scale": f"{scale:.6f}"})

    @app.post("/api/sessions/{sid}/preview", responses=doc(404, 409, 422, media="image/jpeg", what="the crop; headers X-Crop, X-Render-Ms"), summary="A fast preview of one face's crop (JPEG)",
              response_class=Response)
    async def preview(sid: str, body: EditBody):
        entry = store.get(sid)
        if not entry.note_seq(body.seq):
            raise ApiError(409, f"stale preview (seq {body.seq}); a newer one was asked", param="seq")
        source = _source(store, entry, body)
        if isinstance(body.face, str) and not body.face.strip().isdigit():
            raise ApiError(422, "a preview shows one face: give its number", param="face", allowed="0 .. N-1")
        face = int(body.face)

        def work():
            if entry.is_stale(body.seq):
                return None
            t0 = time.perf_counter()
            crop = entry.session.preview(source, face, work_px=PREVIEW_PX)
            grid = entry.session.faces[face].preview_grid(PREVIEW_PX)
            data = jpeg(crop)
            return data, grid, (time.perf_counter() - t0) * 1000

        out = await run(previews, work)
        if out is None:
            raise ApiError(409, f"stale preview (seq {body.seq}); a newer one was asked", param="seq")
        data, grid, ms = out
        crop = f"{grid.x0},{grid.y0},{grid.x0 + grid.full_size[1]},{grid.y0 + grid.full_size[0]}"
        return Response(data, media_type="image/jpeg", headers={"X-Crop": crop, "X-Render-Ms": f"{ms:.1f}"})

    @app.post("/api/sessions/{sid}/render", responses=doc(404, 422, media="image/*", what="the photo's own format, as an attachment"), summary="The full-resolution edit in the photo's own format",
              response_class=Response)
    async def render(sid: str, body: EditBody):
        entry = store.get(sid)
        source = _source(store, entry, body)
        ext = PHOTO_FORMATS.get(entry.photo.format, ".png")
        folder = scratch()
        try:
            data = await run(compute, _render_bytes, entry, source, body.face, folder / f"out{ext}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return Response(data, media_type=MEDIA_TYPES.get(entry.photo.format, "image/png"),
                        headers=attachment(entry.stem, ext))

    @app.get("/api/sessions/{sid}/suggest", responses=doc(404), summary="Per face: eyes open, smile, sharpness (burst picker)")
    async def suggest(sid: str):
        entry = store.get(sid)
        faces = await run(compute, lambda: [suggestion(s) for s in entry.session.faces])
        return {"id": sid, "faces": faces}

    @app.delete("/api/sessions/{sid}", status_code=204, responses=doc(404), response_class=Response,
                summary="Forget a session")
    async def delete_session(sid: str):
        store.delete(sid)
        return Response(status_code=204)

    # -- one-call edits ---------------------------------------------------------------

    @app.post("/api/edit", responses=doc(413, 415, 422, media="image/*", what="the edited photo in its own format"), summary="Edit a photo in one call (same bytes as `mien edit`)", response_class=Response)
    async def edit(photo: Annotated[UploadFile, File()],
                   controls: Annotated[str, Form(description="JSON object of controls")] = "{}",
                   face: Annotated[str, Form()] = "0"):
        kwargs = control_kwargs(parse_json_field(controls, "controls"))
        Request.from_controls(**kwargs)  # refuse bad values before the upload is copied
        folder = scratch()
        try:
            saved = await save_upload(photo, folder, "input", video=False, limit=max_photo_bytes, field="photo")
            ext = PHOTO_FORMATS[saved.kind]
            data = await run(compute, _edit_bytes, saved.path, folder / f"output{ext}", face, kwargs)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return Response(data, media_type=MEDIA_TYPES[saved.kind], headers=attachment(saved.stem, ext))

    @app.post("/api/transfer", responses=doc(413, 415, 422, media="image/*", what="the pose photo edited, in its own format"), summary="Burst transfer in one call (same bytes as `mien transfer`)",
              response_class=Response)
    async def transfer(pose: Annotated[UploadFile, File(description="the photo to edit")],
                       expression: Annotated[Optional[UploadFile], File()] = None,
                       eyes: Annotated[Optional[UploadFile], File()] = None,
                       mouth: Annotated[Optional[UploadFile], File()] = None,
                       brows: Annotated[Optional[UploadFile], File()] = None,
                       regions: Annotated[str, Form()] = "all",
                       strength: Annotated[float, Form()] = 1.0,
                       face: Annotated[str, Form()] = "0",
                       force: Annotated[bool, Form()] = False,
                       refine: Annotated[bool, Form()] = True):
        given = {n: f for n, f in (("expression", expression), ("eyes", eyes), ("mouth", mouth), ("brows", brows))
                 if f is not None}
        if not given:
            raise ApiError(422, "give an expression photo, or eyes/mouth/brows photos", param="expression",
                           allowed="expression, eyes, mouth, brows")
        folder = scratch()
        try:
            saved_pose = await save_upload(pose, folder, "pose", video=False, limit=max_photo_bytes, field="pose")
            saved = {n: await save_upload(f, folder, n, video=False, limit=max_photo_bytes, field=n)
                     for n, f in given.items()}
            ext = PHOTO_FORMATS[saved_pose.kind]
            data = await run(compute, _transfer_bytes, saved_pose, saved, folder / f"output{ext}",
                             dict(regions=regions, strength=strength, face=face, force=force, refine=refine))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return Response(data, media_type=MEDIA_TYPES[saved_pose.kind], headers=attachment(saved_pose.stem, ext))

    # -- video -----------------------------------------------------------------------

    @app.post("/api/videos", status_code=202, responses=doc(413, 415, 422, 503), summary="Start a video job (keyframes or controls)")
    async def create_video(video: Annotated[UploadFile, File()],
                           keyframes: Annotated[Optional[str], Form(description="'0s:none, 4s:happy@0.6' or "
                                                                                "keyframe JSON")] = None,
                           controls: Annotated[Optional[str], Form(description="JSON controls for the whole "
                                                                               "clip")] = None,
                           face: Annotated[int, Form()] = 0,
                           lips: Annotated[str, Form()] = "auto"):
        options = _video_options(keyframes, controls)
        options.update(face=face, lips=lips)
        jid, folder = jobs.new_folder()
        try:
            saved = await save_upload(video, folder, "source", video=True, limit=max_video_bytes, field="video")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = jobs.submit(jid, folder, saved.path, saved.stem, options)
        return JSONResponse({"job": job.id}, status_code=202)

    @app.get("/api/jobs/{jid}", responses=doc(404), summary="A video job's status and progress")
    async def job_status(jid: str):
        return jobs.get(jid).as_json()

    @app.post("/api/jobs/{jid}/cancel", responses=doc(404), summary="Cancel a video job")
    async def job_cancel(jid: str):
        return jobs.cancel(jid).as_json()

    @app.delete("/api/jobs/{jid}", status_code=204, responses=doc(404), response_class=Response, summary="Cancel and forget a job")
    async def job_delete(jid: str):
        jobs.delete(jid)
        return Response(status_code=204)

    @app.get("/api/jobs/{jid}/download", responses=doc(404, 409, media="video/mp4"), summary="The edited video (video/mp4)", response_class=Response)
    async def job_download(jid: str):
        job = jobs.get(jid)
        if job.status != "done" or not job.output.exists():
            raise ApiError(409, f"the job is {job.status}, not done; nothing to download yet", param="job")

        def claimed() -> None:  # only once the whole file has gone out
            job.downloaded = True

        return FileResponse(job.output, media_type="video/mp4", filename=f"{job.stem}-mien.mp4",
                            background=BackgroundTask(claimed))

    @app.post("/api/videos/frame", responses=doc(413, 415, 422, media="image/jpeg", what="the frame edited; headers X-Time, X-Scale"), summary="One frame of a video edited (JPEG)", response_class=Response)
    async def video_frame(video: Annotated[UploadFile, File()],
                          time_: Annotated[float, Form(alias="time", description="seconds")] = 0.0,
                          controls: Annotated[str, Form()] = "{}",
                          face: Annotated[int, Form()] = 0):
        request = build_request(parse_json_field(controls, "controls"))
        if not np.isfinite(time_) or time_ < 0:
            raise ApiError(422, f"time must be 0 or more seconds, got {time_}", param="time")
        folder = scratch()
        try:
            saved = await save_upload(video, folder, "source", video=True, limit=max_video_bytes, field="video")
            data, at, scale = await run(compute, _frame_bytes, saved.path, time_, request, face)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return Response(data, media_type="image/jpeg", headers={"X-Time": f"{at:.4f}", "X-Scale": f"{scale:.6f}"})

    return app


# -- work done in the pools ----------------------------------------------------------------

def _open_session(store: SessionStore, saved: Saved) -> Entry:
    from ..io import read_photo
    from ..session import Session

    photo = read_photo(saved.path)
    session = Session(photo, name=f"photo {saved.stem}")
    if not session.faces:
        raise NoFaceError(f"no face found in the photo {saved.stem}; use a photo where the face is visible",
                          param="photo")
    for state in session.faces:
        state.code  # noqa: B018 - read each face's expression here, not on the event loop
    return store.add(session, photo, saved.stem)


def _warm_up() -> None:
    """Load the face models and the expression model, then preview a bundled sample photo
    (smile and open mouth) so the first slider moves of the first upload find the
    shading, donor and crease data loaded (~0.3 s less on its first previews)."""
    try:
        from ..detect import load
        from ..io import read_photo
        from ..session import Session

        load()
        model()
        samples = resources.files("mien").joinpath("data/samples")
        names = sorted(p.name for p in samples.iterdir() if p.name.endswith("-neutral.jpg"))
        if names:
            with resources.as_file(samples.joinpath(names[0])) as path:
                session = Session(read_photo(path), name="warm-up sample")
            if session.faces:
                for controls in ({"emotion": "happy", "intensity": 0.5}, {"emotion": "surprised"}, {"blink": 0.5}):
                    session.preview(Request.from_controls(**controls), 0, work_px=PREVIEW_PX)
    except Exception:  # a warm-up failure shows again, as an error, on first use
        log.exception("warming up the models failed")


def _source(store: SessionStore, entry: Entry, body: EditBody):
    """The request (controls) or burst (other sessions) a preview/render body asks for."""
    kwargs = control_kwargs(body.controls)
    if body.burst is None:
        return Request.from_controls(**kwargs)
    if _changes_something(kwargs):
        raise ApiError(422, "give controls or a burst, not both", param="burst",
                       allowed="empty controls when a burst is given")
    shots = tuple(Shot(store.get(sid, "burst session").session, region)
                  for region, sid in (("eyes", body.burst.eyes), ("mouth", body.burst.mouth),
                                      ("brows", body.burst.brows)) if sid)
    if not shots:
        raise ApiError(422, "a burst needs at least one of eyes, mouth, brows (session ids)", param="burst",
                       allowed="eyes, mouth, brows")
    return Burst(shots, body.burst.strength, force=body.burst.force)


def _render_bytes(entry: Entry, source, face, out: Path) -> bytes:
    from ..io import write_photo

    pixels = entry.session.render(source, face)
    written = write_photo(out, pixels, like=entry.photo)
    return written.read_bytes()


def _edit_bytes(src: Path, out: Path, face: str, kwargs: dict) -> bytes:
    from ..api import edit_files

    written = edit_files(src, out, face=face, **kwargs)
    return Path(written).read_bytes()


def _transfer_bytes(pose: Saved, shots: dict[str, Saved], out: Path, options: dict) -> bytes:
    """As the CLI: one ``expression`` photo alone goes as is (with ``regions``); otherwise
    a mapping ``{region: photo}`` in the CLI's order (expression's regions, eyes, mouth, brows)."""
    from ..api import transfer_files

    sources: dict[str, Path] = {}
    if "expression" in shots:
        sources[options["regions"]] = shots["expression"].path
    for name in ("eyes", "mouth", "brows"):
        if name in shots:
            sources[name] = shots[name].path
    only_expression = list(shots) == ["expression"]
    written = transfer_files(pose.path, shots["expression"].path if only_expression else sources, out, **options)
    return Path(written).read_bytes()


def _video_options(keyframes: str | None, controls: str | None) -> dict:
    """``edit_video`` keywords from the form: a parsed Timeline (never a path) or controls."""
    from ..controls.timeline import Timeline

    has_keys = keyframes is not None and keyframes.strip() != ""
    has_controls = controls is not None and controls.strip() not in ("", "{}")
    if has_keys and has_controls:
        raise ApiError(422, "give either keyframes or controls for the whole clip, not both", param="keyframes")
    if has_keys:
        text = keyframes.strip()
        timeline = Timeline.from_json(text) if text[:1] in "[{" else Timeline.parse(text)
        return {"keyframes": timeline}
    kwargs = control_kwargs(parse_json_field(controls, "controls"))
    Request.from_controls(**kwargs)
    return dict(kwargs)


def _frame_bytes(path: Path, seconds: float, request: Request, face: int) -> tuple[bytes, float, float]:
    """The frame nearest ``seconds`` edited with ``request``, shrunk for display."""
    from ..io import read_video
    from ..session import Session

    with read_video(path) as reader:
        duration = reader.info.duration
        if duration and seconds > duration + 0.5:
            raise ApiError(422, f"time {seconds:g} s is past the end of the video ({duration:.2f} s)",
                           param="time", allowed=f"0 to {duration:.2f}")
        best = reader.frame_at(seconds)  # seeks: a frame late in a long clip decodes one GOP
    session = Session(best.pixels.copy(), name=f"frame at {best.time:.2f} s")
    pixels = session.render(request, face)
    small, scale = display_copy(pixels)
    return jpeg(small), best.time, scale


DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mien HTTP API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:62em;margin:2em auto;padding:0 1em;line-height:1.4}
h2{margin:1.8em 0 .2em;font-size:1.05em}code{background:#f3f3f3;padding:.1em .3em}
.m{display:inline-block;min-width:4.5em}table{border-collapse:collapse;margin:.4em 0;font-size:.92em}
td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}th{font-weight:600}
.muted{color:#555}</style></head><body>
<h1>mien HTTP API</h1>
<p>This page is generated from <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1) and needs no network.
Every error is JSON <code>{"error", "param", "allowed"}</code>: 422 bad value, unknown control or no face;
413 too large; 415 not a photo or video; 404 unknown session or job; 409 stale preview or job not done;
403 a POST from another site's page. <span class="muted">Fields marked * are required.</span></p>
<main id="api">loading...</main>
<script>
"use strict";
fetch('/openapi.json').then(r => r.json()).then(spec => {
  const out = document.getElementById('api'); out.textContent = '';
  const add = (parent, tag, text, cls) => { const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text; if (cls) e.className = cls; parent.appendChild(e); return e; };
  const ref = s => (s && s.$ref) ? spec.components.schemas[s.$ref.split('/').pop()] : s;
  const type = s => { s = s || {}; if (s.$ref) return s.$ref.split('/').pop();
    if (s.anyOf) return s.anyOf.map(type).join(' | '); if (s.type === 'array') return type(s.items) + '[]';
    return (s.format === 'binary' || s.contentMediaType) ? 'file' : (s.type || 'any'); };
  const table = (rows, head) => { const t = add(out, 'table'); const h = add(t, 'tr');
    head.forEach(x => add(h, 'th', x)); rows.forEach(r => { const tr = add(t, 'tr');
    r.forEach((x, i) => i === 0 ? add(add(tr, 'td'), 'code', x) : add(tr, 'td', x)); }); };
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const h = add(out, 'h2'); add(h, 'span', method.toUpperCase(), 'm'); add(h, 'code', path);
      add(out, 'p', op.summary || '');
      const rows = [];
      for (const prm of op.parameters || []) rows.push([prm.name + (prm.required ? '*' : ''), prm.in, type(prm.schema),
                                                       prm.description || '']);
      const body = op.requestBody && op.requestBody.content;
      if (body) for (const [media, c] of Object.entries(body)) {
        const s = ref(c.schema) || {};
        for (const [k, v] of Object.entries(s.properties || {}))
          rows.push([k + ((s.required || []).includes(k) ? '*' : ''), media.split('/')[1], type(v),
                     (v.description || '') + (v.default !== undefined ? ' (default ' + JSON.stringify(v.default) + ')' : '')]);
      }
      if (rows.length) table(rows, ['field', 'in', 'type', 'meaning']);
      const res = Object.entries(op.responses || {}).map(([code, r]) => [code, r.description || '']);
      if (res.length) table(res, ['answer', 'when']);
    }
  }
}).catch(e => { document.getElementById('api').textContent = 'could not load /openapi.json: ' + e; });
</script></body></html>"""

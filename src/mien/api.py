"""One-call helpers on top of :class:`mien.session.Session`: arrays in, arrays out, or
files in, files out. Each builds a session, a request, renders, and (for files) writes
atomically with the input's metadata. Long-lived callers (a web app, a video track, a
slider) should hold a :class:`~mien.session.Session` instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import identity
from .controls import Burst, Request, Shot
from .controls.registry import docstring_section
from .errors import InputError, MienError
from .expression import Expression
from .io import check_output_path, read_photo, write_photo
from .session import PREVIEW_FACE_PX, Progress, Session

log = logging.getLogger(__name__)


def edit(photo: np.ndarray, *, emotion: str | None = None, intensity: float = 1.0,
         au: Mapping[str, float] | None = None, magnify: float | None = None, neutralize: bool = False,
         keep: float | None = None, expression: Expression | None = None, reference: np.ndarray | None = None,
         face: int | str = 0, keep_mouth: bool = False, force: bool = False,
         progress: Progress | None = None, **sliders: float) -> np.ndarray:
    """Edit the expression of a face in one photo.

    Args:
        photo: ``(H, W, 3)`` ``uint8`` (or ``uint16``) RGB.
        emotion: one of ``neutral, happy, sad, angry, surprised, disgusted, fearful,
            contempt``; ``intensity`` 0 to 1 (up to 1.5 to exaggerate).
        au: Action Unit intensities, ``{"12": 0.8, "6": 0.4}``; ``"12L"``/``"12R"`` for
            the subject's left or right side.
        magnify: scale the current expression (1 = unchanged, 0 = neutral, 2 = double).
        neutralize: remove the current expression (same as ``keep=0``).
        keep: keep this fraction of the current expression.
        expression: give the face this code (e.g. saved from another photo).
        reference: another photo of the same person, used for mouth interior texture.
        face: face index (left to right from 0) or ``"all"``.
        keep_mouth: keep the mouth opening unchanged (talking faces).
        force: use ``reference`` even if it looks like a different person.
        progress: called with a short stage description as work proceeds.
        **sliders: any of
{sliders}

    Returns:
        ``(H, W, 3)`` of ``photo``'s dtype; pixels outside the edited face are
        bit-identical, and an empty request returns ``photo`` unchanged.

    Raises:
        NoFaceError: no usable face.
        FaceMismatchError: ``reference`` shows a different person (unless ``force``).
        InputError: a bad value; its ``param`` and ``allowed`` say which and what is valid.
    """
    ref = Session(reference, name="reference photo") if reference is not None else None
    request = Request.from_controls(emotion=emotion, intensity=intensity, au=au, magnify=magnify, keep=keep,
                                    neutralize=neutralize, expression=expression, keep_mouth=keep_mouth,
                                    reference=ref, force=force, **sliders)
    return Session(photo, progress=progress).render(request, face)


edit.__doc__ = edit.__doc__.replace("{sliders}", docstring_section("            "))


def preview(photo: np.ndarray | Session, face: int = 0, work_px: int = PREVIEW_FACE_PX, **controls) -> np.ndarray:
    """A working-resolution render for live previews; pass a :class:`Session` to reuse the
    analysis between calls (a bare array is analysed each time).

    Returns:
        ``(h, w, 3)`` ``float32`` RGB in ``[0, 1]``: the face's preview crop.
    """
    session = photo if isinstance(photo, Session) else Session(photo)
    return session.preview(Request.from_controls(**controls), face, work_px=work_px)


def sweep(photo: np.ndarray | Session, emotion: str, steps: int = 11, face: int | str = 0,
          top: float = 1.0) -> list[np.ndarray]:
    """The photo at ``steps`` evenly spaced intensities of ``emotion`` from 0 to ``top``.

    The face is analysed once (pass a :class:`Session` to reuse an analysis); each step
    re-renders from the same session.

    Raises:
        InputError: fewer than 2 steps, or a bad emotion or intensity.
    """
    if steps < 2:
        raise InputError(f"a sweep needs at least 2 steps, got {steps}", param="steps", allowed="2 or more")
    session = photo if isinstance(photo, Session) else Session(photo)
    return [session.render(Request.from_controls(emotion=emotion, intensity=float(t)), face)
            for t in np.linspace(0.0, top, steps)]


def transfer(pose: np.ndarray | Session, expression: np.ndarray | Session | Mapping[str, np.ndarray | Session], *,
             regions: str | Sequence[str] = "all", strength: float = 1.0, face: int | str = 0,
             force: bool = False, refine: bool = True, progress: Progress | None = None,
             names: tuple[str, ...] = ("pose photo", "expression photo")) -> np.ndarray:
    """Put the expression of ``expression`` on the face in ``pose`` (burst transfer).

    Args:
        pose: ``(H, W, 3)`` ``uint8`` (or ``uint16``) RGB: head pose, light, background;
            or a :class:`~mien.session.Session` on it (analysed already).
        expression: ``(H', W', 3)`` RGB of the same person with the wanted expression (or
            a Session on it), or a mapping ``{region: photo}`` to take each region from its
            own photo (``{"eyes": shot2, "mouth": shot5}``), in which case ``regions`` is
            ignored.
        regions: ``"mouth"``, ``"eyes"``, ``"brows"``, ``"all"`` or a combination.
        strength: in ``[0, 1]``: 0 returns ``pose`` unchanged, 1 the full expression.
        face: which face of ``pose`` to edit (numbered left to right from 0), or ``"all"``.
        force: transfer even when the faces look like different people or the
            expression photo is much smaller.
        refine: refine the texture alignment with optical flow.
        progress: called with a short stage description as work proceeds.
        names: how messages call the pose and expression photos.

    Returns:
        ``(H, W, 3)`` array of ``pose``'s dtype; pixels outside the edited face are
        bit-identical to ``pose``.

    Raises:
        NoFaceError: no usable face in a photo.
        FaceMismatchError: different people, or faces that cannot be paired.
        InputError: bad arguments.
    """
    def session(photo, name):
        return photo if isinstance(photo, Session) else Session(photo, name=name, progress=progress)

    if isinstance(expression, Mapping):
        shots = tuple(Shot(session(px, f"{r} photo"), r) for r, px in expression.items())
    else:
        shots = (Shot(session(expression, names[1]), regions),)
    burst = Burst(shots, strength, refine, force)
    return session(pose, names[0]).render(burst, face)


def transfer_files(pose: str | os.PathLike, expression: str | os.PathLike | Mapping[str, str | os.PathLike],
                   out: str | os.PathLike, **options) -> Path:
    """File-level :func:`transfer`: read, edit, write ``out`` keeping ``pose``'s metadata.

    The output is checked before any work (known type, folder exists, not an input)
    and written atomically. Returns the path written.
    """
    inputs = [pose, *(expression.values() if isinstance(expression, Mapping) else [expression])]
    out = check_output_path(out, inputs)
    if isinstance(expression, Mapping):
        names = [f"pose photo {Path(pose).name}", *(f"{r} photo {Path(p).name}" for r, p in expression.items())]
    else:
        names = [f"pose photo {Path(pose).name}", f"expression photo {Path(expression).name}"]
    progress = options.get("progress")
    check = not options.get("force", False)
    if check:
        # dlib holds the GIL for its whole ~65 ms pass: in a thread it stalls every other
        # thread. A helper process computes the descriptors instead, while this process
        # goes on; it starts in ~0.2 s, long before a cold process has loaded MediaPipe.
        # Without it (not ready, failed, no weights) the check runs here as before.
        try:
            identity.start_helper()
        except MienError as exc:
            log.debug("no identity helper: %s", exc)

    def open_session(path, name):
        return Session.open(path, name=name, progress=progress)

    # Decoding and analysis release the GIL for most of their work: each photo is read and
    # analysed in its own thread.
    with ThreadPoolExecutor(max_workers=2) as pool:
        sessions = list(pool.map(open_session, inputs, names))
    if isinstance(expression, Mapping):
        result = transfer(sessions[0], dict(zip(expression, sessions[1:])), **options)
    elif check and identity.helper_ready() and len(sessions[0].faces) == len(sessions[1].faces) == 1:
        # One thread waits for the helper (without the GIL) while this one renders.
        with ThreadPoolExecutor(max_workers=1) as aside:
            result = _transfer_checked_aside(sessions[0], sessions[1], aside, **options)
    else:
        result = transfer(sessions[0], sessions[1], **options)
    return write_photo(out, result, like=sessions[0].photo, protect=inputs)


def _transfer_checked_aside(pose: Session, expression: Session, aside: ThreadPoolExecutor, *,
                            regions: str | Sequence[str] = "all", strength: float = 1.0, face: int | str = 0,
                            force: bool = False, refine: bool = True, progress: Progress | None = None,
                            names: tuple[str, ...] = ()) -> np.ndarray:
    """:func:`transfer` of one face each, with the identity check made in ``aside`` (by
    the helper process) while this thread renders; the same result and the same errors,
    in the same order: the choice of face, pairing and size first, then a different
    person (also when the render itself failed), then the render's own errors. ``names``
    is unused (the sessions are named already).
    """
    burst = Burst((Shot(expression, regions),), strength, refine, force, check_identity=False)
    checks = []
    for state in pose.choose(face):
        for partner, shot in burst.partners(state):
            if not force:
                checks.append(aside.submit(state.check_same_person, partner, shot.session.name))
    try:
        result = pose.render(burst, face, progress=progress)
    except BaseException:
        for c in checks:
            c.result()
        raise
    for c in checks:
        c.result()
    return result


def edit_files(photo: str | os.PathLike, out: str | os.PathLike | None, *,
               reference: str | os.PathLike | None = None,
               save_expression: str | os.PathLike | None = None,
               load_expression: str | os.PathLike | None = None,
               face: int | str = 0, progress: Progress | None = None, **controls) -> Path | None:
    """File-level :func:`edit`: read, edit, write ``out`` (atomically, metadata kept).

    ``load_expression`` reads a code saved by ``save_expression``; ``save_expression``
    writes the expression of the (first) edited face after the edit. ``out`` may be
    ``None`` when only saving an expression. Returns the path written, if any.
    """
    inputs = [p for p in (photo, reference, load_expression) if p is not None]
    if out is not None:
        out = check_output_path(out, inputs)
    if save_expression is not None:
        save_expression = Path(save_expression)
        if any(Path(p).resolve() == save_expression.resolve() for p in inputs):
            raise InputError(f"{save_expression} is also an input; choose another --save-expression",
                             param="save_expression")
        if not save_expression.parent.exists():
            raise InputError(f"{save_expression.parent}: folder does not exist", param="save_expression")
    if load_expression is not None:
        path = Path(load_expression)
        if not path.exists():
            raise InputError(f"{path}: no such file; check the path", param="expression")
        controls["expression"] = Expression.from_json(path.read_text())
    src = read_photo(photo)
    session = Session(src, name=f"photo {Path(photo).name}", progress=progress)
    ref = Session.open(reference, name=f"reference photo {Path(reference).name}") if reference else None
    request = Request.from_controls(reference=ref, **controls)
    written = None
    if out is not None:
        written = write_photo(out, session.render(request, face), like=src, protect=inputs)
    if save_expression is not None:
        state = session.choose(face)[0]
        text = request.resulting_code(state.code).to_json()
        tmp = save_expression.with_name(f".{save_expression.name}.part")
        tmp.write_text(text)
        os.replace(tmp, save_expression)
    return written

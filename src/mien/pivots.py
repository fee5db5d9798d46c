"""The subject's own texture in a video (seed 002, PVP): pivot frames.

A survey of the clip samples frames and reads each face's head pose and expression code.
K-means over pose and code picks *pivot* frames that cover what the clip shows (seed
002 clusters DECA's pose and expression parameters the same way). When an edit needs a
mouth interior the current frame lacks (a smile opened on closed lips), the texture comes
from one pivot that shows the subject's own open mouth with teeth, chosen once per clip
near the clip's typical head pose, so the teeth never switch between frames; donors are
the fallback when the clip never shows an open mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face import Face
from .retarget import opening

#: Inner-lip opening (inter-ocular units) at which a frame's mouth interior can give texture.
MOUTH_OPEN = 0.05
#: At most this many pivots.
MAX_PIVOTS = 16


@dataclass(frozen=True, eq=False)
class Sample:
    """One surveyed frame of the tracked face.

    Attributes:
        index: frame number.
        face: the face in the frame.
        code: ``(D,)`` its expression code (:func:`mien.temporal.code_vector`).
        pose: ``(yaw, pitch, roll)`` degrees.
        crop: ``(h, w, 3)`` the frame around the face, kept only for frames whose mouth is
            open enough to give texture, else ``None``.
        crop_face: ``face`` in ``crop``'s coordinates, or ``None``.
    """

    index: int
    face: Face
    code: np.ndarray
    pose: tuple[float, float, float]
    crop: np.ndarray | None = None
    crop_face: Face | None = None

    @property
    def opening(self) -> float:
        return opening(self.face.landmarks, self.face.interocular)


def features(samples: list[Sample]) -> np.ndarray:
    """``(N, 3 + D)`` pose (in units of 15 degrees) and expression code per sample."""
    return np.array([np.concatenate([np.asarray(s.pose) / 15.0, s.code]) for s in samples])


def choose(samples: list[Sample], k: int = MAX_PIVOTS, seed: int = 0) -> list[Sample]:
    """Pivot frames: the sample nearest each K-means centre over :func:`features`
    (deterministic for a seed), in frame order, without duplicates."""
    if not samples:
        return []
    x = features(samples)
    k = min(k, len(samples))
    if k == len(samples):
        return list(samples)
    import warnings

    from scipy.cluster.vq import kmeans2

    with warnings.catch_warnings():  # a still clip has identical samples: empty clusters are fine
        warnings.simplefilter("ignore", UserWarning)
        centres, _ = kmeans2(x, k, minit="++", seed=seed)
    nearest = {int(np.argmin(np.linalg.norm(x - c, axis=1))) for c in centres}
    return [samples[i] for i in sorted(nearest)]


def mouth_source(samples: list[Sample], pivots: list[Sample]) -> Sample | None:
    """The one frame whose open mouth gives mouth-interior texture to the whole clip.

    Among the pivots with a kept crop and an opening of at least :data:`MOUTH_OPEN` (else
    among all such samples), the one that shows most of its mouth interior (opening, up to
    a broad smile's) nearest the clip's median head pose. ``None`` if the clip never shows
    an open mouth.
    """
    candidates = [s for s in pivots if s.crop is not None and s.opening >= MOUTH_OPEN]
    candidates = candidates or [s for s in samples if s.crop is not None and s.opening >= MOUTH_OPEN]
    if not candidates:
        return None
    median = np.median(np.array([s.pose for s in samples]), axis=0)
    return max(candidates, key=lambda s: mouth_score(s, median))


def mouth_score(sample: Sample, median_pose: np.ndarray) -> float:
    """How well an open-mouth sample gives mouth texture (:func:`mouth_source`): its
    opening up to a broad smile's, less 0.004 per degree its head is turned (yaw, pitch)
    from ``median_pose`` ``(3,)``."""
    turn = float(np.linalg.norm(np.asarray(sample.pose[:2]) - np.asarray(median_pose)[:2]))
    return min(sample.opening, 0.15) - 0.004 * turn

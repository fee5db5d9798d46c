"""Tracking: one chosen face followed through a video, frame by frame.

The face is found once (:func:`mien.detect.analyze`) and then fitted in each next frame
from where it was in the previous one (:func:`mien.detect.track`, no detector). When the
track is lost (no face, an implausible fit, a scene cut) the detector runs again, every
few frames while nothing is found, and the face is recognised among those it finds by its
identity descriptor, so that after a cut the same person is edited, not whoever is
leftmost. Every frame gets an :class:`Observation`: the face, and if the frame must not
be edited, why (no face, a face too small, the face occluded, another person).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from . import detect
from .errors import InputError
from .face import MIN_FACE_SIZE, Face

log = logging.getLogger(__name__)

#: Reasons a frame is passed through unchanged.
NO_FACE, TOO_SMALL, OCCLUDED, OTHER_PERSON = "no face", "face too small", "face occluded", "another person"
#: Colour-histogram (Hellinger) distance between consecutive frames above which the scene cut.
CUT_DISTANCE = 0.45
#: While no face is found, the detector runs on every this many frames.
REDETECT_EVERY = 3


@dataclass(frozen=True, eq=False)
class Observation:
    """What the tracker saw in one frame.

    Attributes:
        face: the tracked face (``None`` when not found).
        reason: why the frame must be passed through unchanged, or ``None`` if it can
            be edited (one of :data:`NO_FACE`, :data:`TOO_SMALL`, :data:`OCCLUDED`,
            :data:`OTHER_PERSON`).
        segment: increases at every scene cut and every time the track is found again:
            temporal smoothing never crosses a segment boundary.
        cut: a scene cut was detected at this frame.
    """

    face: Face | None
    reason: str | None
    segment: int
    cut: bool = False

    @property
    def usable(self) -> bool:
        return self.face is not None and self.reason is None


class Tracker:
    """Follows one face through consecutive frames.

    Args:
        face: which face to follow where it is first found: its number from the left
            (from 0), as for photos.
        identity: the face's identity descriptor when already known (``(128,)``, from a
            survey of the clip); otherwise taken from the face first chosen.
        occlusion: detect occluded faces (a hand over the mouth) and pass them through.
    """

    def __init__(self, face: int = 0, identity: np.ndarray | None = None, *, occlusion: bool = True) -> None:
        if isinstance(face, bool) or not isinstance(face, (int, np.integer)) or face < 0:
            raise InputError(f"face must be a number from 0 (faces are numbered from the left), got {face!r}",
                             param="face", allowed="0 .. N-1")
        self.choice = int(face)
        self.identity = identity
        self.previous: Face | None = None
        self.segment = 0
        self._thumb: np.ndarray | None = None
        self._since_detect = REDETECT_EVERY
        self._missing = NO_FACE
        self._appearance = None
        if occlusion:
            from .occlusion import FaceAppearance

            self._appearance = FaceAppearance()

    def step(self, pixels: np.ndarray) -> Observation:
        """Observe the next frame.

        Args:
            pixels: ``(H, W, 3)`` ``uint8`` RGB.
        """
        cut = self._cut(pixels)
        if cut:
            log.info("scene cut: tracker reset")
            self._lose()
            if self._appearance is not None:
                # The face's look learned so far belongs to the previous shot's light.
                from .occlusion import FaceAppearance

                self._appearance = FaceAppearance()
        face = None
        if self.previous is not None:
            face = detect.track(pixels, self.previous)
            if face is None:
                self._lose()
        if face is None:
            face, reason = self._find(pixels)
            if face is None:
                return Observation(None, reason, self.segment, cut)
            self.segment += 1
        self.previous = face
        if face.size < MIN_FACE_SIZE:
            return Observation(face, TOO_SMALL, self.segment, cut)
        if self._appearance is not None:
            from .occlusion import OCCLUDED as THRESHOLD, occlusion

            if occlusion(pixels, face, self._appearance) >= THRESHOLD:
                return Observation(face, OCCLUDED, self.segment, cut)
            self._appearance.update(pixels, face)
        return Observation(face, None, self.segment, cut)

    def _lose(self) -> None:
        if self.previous is not None:
            self.segment += 1
        self.previous = None
        self._since_detect = REDETECT_EVERY

    def _find(self, pixels: np.ndarray) -> tuple[Face | None, str]:
        """Detect faces and pick the tracked one: by identity once known, else by number."""
        if self._since_detect < REDETECT_EVERY:
            self._since_detect += 1
            return None, self._missing  # between detections: as the last one found
        self._since_detect = 1
        faces = detect.analyze(pixels)
        self._missing = NO_FACE
        if not faces:
            return None, NO_FACE
        from . import identity

        if self.identity is None:
            if self.choice >= len(faces):
                return None, NO_FACE
            chosen = faces[self.choice]
            self.identity = identity.plain_descriptor(pixels, chosen)
            return chosen, ""
        distances = [float(np.linalg.norm(identity.plain_descriptor(pixels, f) - self.identity)) for f in faces]
        best = int(np.argmin(distances))
        if distances[best] > identity.SAME_PERSON:
            self._missing = OTHER_PERSON
            log.info("faces found, none is the tracked person (closest identity distance %.2f)", distances[best])
            return None, OTHER_PERSON
        return faces[best], ""

    def _cut(self, pixels: np.ndarray) -> bool:
        """Whether this frame starts a new shot: its colour histogram is far from the last."""
        # Every s-th pixel first (to ~4x the thumbnail): averaging a whole 1080p frame
        # cost 1.5 ms; the histogram moves by < 0.07 of the cut distance's 0.45.
        step = max(1, min(pixels.shape[0] // 144, pixels.shape[1] // 256))
        small = cv2.resize(pixels[::step, ::step], (64, 36), interpolation=cv2.INTER_AREA)
        hist = cv2.calcHist([small], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3).ravel()
        hist = hist / max(hist.sum(), 1.0)
        previous, self._thumb = self._thumb, hist
        if previous is None:
            return False
        return float(cv2.compareHist(previous.astype(np.float32), hist.astype(np.float32),
                                     cv2.HISTCMP_BHATTACHARYYA)) > CUT_DISTANCE

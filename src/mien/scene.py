"""The hand-off between a control and the renderer: a :class:`Scene`.

Every control (a burst's expression photos, an emotion, Action Units, sliders, a saved
expression, later interpolation and video) turns what the user asked into one Scene per
face: where the face's landmarks should go, which texture sources show what the warp
cannot (an open mouth, another photo's eyes), and what shading the expression brings.
:mod:`mien.render` draws a Scene at working resolution (previews) or at full resolution.
This module sits below both sides, so texture sources never import the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face import Face
from .sclera import Sclera


@dataclass(frozen=True, eq=False)
class Layer:
    """Texture for part of the face, taken from another photo.

    Attributes:
        pixels: ``(H', W', 3)`` ``uint8``/``uint16`` RGB of the texture photo.
        face: the face in ``pixels`` whose texture is used.
        weights: ``(478,)`` ``float`` in ``[0, 1]``: how much texture each landmark takes.
        aligned: ``(478, 3)`` ``face``'s landmarks aligned into the edited photo's frame
            (pixels); where they agree with the edited face's own landmarks, the two photos
            should look alike (used for illumination matching and seam refinement).
        own_person: the texture photo shows the same person: its light is matched to the
            edited photo's by the smooth ratio of the skin both show. A donor (another
            person, whose skin differs) keeps its colour relative to its own eye whites
            instead (``white`` and ``target_white``, :func:`mien.texture.white_gain`).
        feather: blur of the texture's edge, as a fraction of the face's width (a thin
            mouth interior needs a small one).
        cavity: for a donor mouth (:class:`mien.donors.DonorLayer`): the target's
            opening over the donor's; the donor layer says where its teeth end, where its
            lower part begins and the dark oral cavity between. ``0``: not a mouth.
        white: the eye whites of the texture's photo (a donor's are measured on its full
            photo and stored in the library); ``None``: measured from ``pixels`` if needed.
        target_white: the eye whites of the edited face in the edited photo (a session
            measures them once per face, :attr:`mien.session.FaceState.sclera`);
            ``None``: the renderer measures them.
    """

    pixels: np.ndarray
    face: Face
    weights: np.ndarray
    aligned: np.ndarray
    own_person: bool = True
    feather: float = 1 / 90
    cavity: float = 0.0
    white: Sclera | None = None
    target_white: Sclera | None = None


@dataclass(frozen=True, eq=False)
class Shading:
    """A multiplicative shading change carried by the face, like a smile's creases.

    Attributes:
        log_ratio: ``(S, S, 3)`` ``float32`` log gain in a texture frame.
        landmarks: ``(478, 2)`` where the landmarks sit in that frame (pixels).
        amount: the gain applied is ``exp(amount * log_ratio)``.
    """

    log_ratio: np.ndarray
    landmarks: np.ndarray
    amount: float


@dataclass(frozen=True, eq=False)
class Scene:
    """What one face should look like: the one contract between controls and the renderer.

    Attributes:
        face: the face being edited, in the photo being edited.
        target: ``(478, 3)`` ``float64`` target landmarks in that photo's frame (pixels,
            the convention of :mod:`mien.face`).
        layers: texture sources composited in order over the warped photo.
        shading: an optional shading change mapped onto the target face.
        refine: align each layer's seams to the warped photo with optical flow (bursts).
    """

    face: Face
    target: np.ndarray
    layers: tuple[Layer, ...] = ()
    shading: Shading | None = None
    refine: bool = False

    @property
    def changes_nothing(self) -> bool:
        """True when rendering this scene would return the photo unchanged."""
        moved = np.abs(np.asarray(self.target, np.float64) - self.face.landmarks).max() > 1e-6
        shaded = self.shading is not None and self.shading.amount != 0
        return not (moved or self.layers or shaded)

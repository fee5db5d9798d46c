"""Identity: are two faces the same person?

dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat`` from the
``face-recognition-models`` package, CC0) maps an aligned 150 x 150 face chip to 128
numbers; two faces are the same person when their distance is at most
:data:`SAME_PERSON`. The chip is aligned on five MediaPipe points placed where dlib's
5-point model puts its own (eye corners, base of the nose), so no dlib landmark model is
needed. Two changes from dlib's recipe make a head turn cost less:

- pose symmetrisation: the descriptor is the mean of the descriptors of the chip and of
  the chip the mirrored photo would give, so a face turned left and the same face turned
  right describe alike (and a mirrored photo describes the same face: 0.03-0.06 apart,
  against ~0.15 for one chip);
- frontal scale: a least-squares fit of the five points zooms into a turned face as the
  eye corners foreshorten (+20 % at 45 degrees), so the chip's scale is fitted to the five
  points turned back to face the camera in 3D (the head pose undone) instead.

Only the part of the photo the chip sees is read, shrunk by area averaging before it is
converted and resampled: the chips cost ~5 ms from a 12 MP 16-bit photo, and a 12 MP
copy of a photo describes the same face as the original (0.02-0.04 apart; dlib's own chip:
0.05-0.07). The network dominates: ~62 ms per chip on this 2-core CPU, so a descriptor
(two chips) takes ~130 ms against ~65 ms for one chip.

dlib's Python binding holds the GIL for its whole pass (measured: a Python thread runs at
~10 % of its speed meanwhile, and a JPEG decode in another thread waits for it), so two
threads' descriptors take turns. :func:`start_helper` starts a second dlib in a helper
process: a thread that finds it free sends its chips there and waits without the GIL,
while another thread describes its own face here. Same network, weights and chips: the
same descriptors, bit for bit. :func:`mien.api.transfer_files` starts it.

Measured with ``benchmarks/identity.py`` on 62 London people: 560 same-person pairs (each
neutral photo against the same person's happy photo as shot, relit, turned by a
synthetic 3D mesh turn that MediaPipe reads as up to 53 degrees of yaw, or turned as a
flat card; new camera roll, zoom and light) and 34058 stranger pairs (every neutral photo
against every other person's happy views):

- before (dlib's chip on the five points, threshold 0.6): 1.43 % false refusals (4.40 %
  of the ~45-degree turns), 0.637 % false accepts;
- this module (threshold 0.59): 0.36 % false refusals (1.10 % of the ~45-degree turns),
  0.564 % false accepts.

Same-person distances reach 0.64 at the strongest synthetic turns, while the closest
strangers are 0.48 apart (0.1th percentile 0.535): no threshold separates them all, and a
higher one trades refusals for false accepts (0.60: 0.708 % false accepts). 0.59 keeps
false accepts below the old method's.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import select
import subprocess
import sys
import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .errors import MissingDependencyError
from .face import Face
from .geometry import similarity
from .image import to_uint8

#: Same-person threshold on :func:`distance` (at most this is the same person), chosen on
#: the benchmark in the module docstring so that strangers are accepted less often than
#: with dlib's documented 0.6 and its own chip.
SAME_PERSON = 0.59

#: Side of the chip the network reads.
CHIP_SIZE = 150
#: Margin around the template, as a fraction of the template's size (dlib's default 0.25).
PADDING = 0.25

# dlib 5-point order: right-eye outer, right-eye inner, left-eye outer, left-eye inner
# (image left to right for a frontal face: subject's left eye is on the image right),
# then the base of the nose.
_FIVE = (263, 362, 33, 133, 2)
# Their order in the mirror image: the eyes swap sides.
_MIRRORED = (2, 3, 0, 1, 4)
# Where dlib's get_face_chip puts those five points, in [0, 1] of an unpadded chip.
_TEMPLATE = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                      [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                      [0.4901123135679, 0.6277975316414]])
# The chip is resampled from a copy shrunk (area averaging) to this many times the chip's
# own scale: a little sharper than the chip, like dlib's own pyramid.
_OVERSAMPLE = 1.5

_lock = threading.Lock()

log = logging.getLogger(__name__)


def _weights() -> Path:
    """Path of the descriptor network's weights.

    Raises:
        MissingDependencyError: ``face-recognition-models`` is not installed.
    """
    # Find the weights without importing face_recognition_models: its __init__ imports
    # pkg_resources, which new setuptools no longer ships.
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = next((Path(p) / "models" / "dlib_face_recognition_resnet_model_v1.dat" for p in locations
                 if (Path(p) / "models" / "dlib_face_recognition_resnet_model_v1.dat").exists()), None)
    if path is None:
        raise MissingDependencyError(
            "the face descriptor weights are missing; run: "
            ".venv/bin/pip install face-recognition-models==0.3.0"
        )
    return path


@lru_cache(maxsize=1)
def _model():
    try:
        import dlib
    except ImportError as exc:
        raise MissingDependencyError(
            "dlib is not installed; run: .venv/bin/pip install dlib-bin==20.0.1.post1"
        ) from exc
    return dlib, dlib.face_recognition_model_v1(str(_weights()))


def _chip_transform(points: np.ndarray, padding: float, size: int = CHIP_SIZE,
                    scale_points: np.ndarray | None = None) -> np.ndarray:
    """``(2, 3)`` similarity taking photo pixels to chip pixels (least squares on 5 points).

    ``scale_points``: the same five points as a frontal face would show them; when given,
    the chip's scale is fitted to them instead (the rotation and the position of the
    points' centroid stay the least-squares fit's).
    """
    template = (_TEMPLATE + padding) / (1 + 2 * padding) * size
    s, rot, t = similarity(points, template)
    if scale_points is not None:
        centre = points.mean(axis=0)
        s_frontal = similarity(scale_points, template)[0]
        t = t + (s - s_frontal) * rot @ centre
        s = s_frontal
    # dlib's chip puts pixel centres half a pixel from OpenCV's.
    return np.hstack([s * rot, (t - 0.5)[:, None]])


def chip(pixels: np.ndarray, face: Face, *, padding: float = PADDING, size: int = CHIP_SIZE,
         transform: np.ndarray | None = None) -> np.ndarray:
    """The aligned ``(size, size, 3)`` ``uint8`` RGB face chip the descriptor reads.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` or ``uint16`` RGB photo.
        face: a face in it.
        transform: ``(2, 3)`` photo-to-chip similarity; by default the one
            :func:`descriptor` uses (five points on dlib's template, frontal scale).
    """
    m = _transforms(face, padding, size=size)[0] if transform is None else transform
    return _chips(pixels, [m], size)[0]


def _chips(pixels: np.ndarray, transforms: list[np.ndarray], size: int = CHIP_SIZE) -> list[np.ndarray]:
    """Chips cut by photo-to-chip similarities (of one face, so of one scale).

    Only the photo region the chips see is read: it is shrunk by area averaging to about
    the chips' scale, then converted to ``uint8`` and resampled, so neither the cost nor
    the result depends on the photo's resolution.
    """
    ms = [np.asarray(m, np.float64) for m in transforms]
    scale = float(np.sqrt(abs(np.linalg.det(ms[0][:, :2]))))
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    seen = np.concatenate([corners @ cv2.invertAffineTransform(m).T for m in ms])
    h, w = pixels.shape[:2]
    margin = 2.0 / scale + 2  # room for the interpolation kernel
    x0 = int(np.clip(np.floor(seen[:, 0].min() - margin), 0, w - 1))
    y0 = int(np.clip(np.floor(seen[:, 1].min() - margin), 0, h - 1))
    x1 = int(np.clip(np.ceil(seen[:, 0].max() + margin), x0 + 1, w))
    y1 = int(np.clip(np.ceil(seen[:, 1].max() + margin), y0 + 1, h))
    crop = pixels[y0:y1, x0:x1]
    # crop pixel -> photo pixel
    back = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    k = scale * _OVERSAMPLE
    if k < 1.0:  # shrink first: bilinear sampling alone would alias
        cw, ch = max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))
        kx, ky = cw / crop.shape[1], ch / crop.shape[0]
        crop = cv2.resize(np.ascontiguousarray(crop), (cw, ch), interpolation=cv2.INTER_AREA)
        # shrunk pixel centre j sits at crop position (j + 0.5) / k - 0.5
        back = back @ np.array([[1 / kx, 0, 0.5 / kx - 0.5], [0, 1 / ky, 0.5 / ky - 0.5], [0, 0, 1]])
    crop = np.ascontiguousarray(to_uint8(crop))
    return [cv2.warpAffine(crop, m @ back, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT) for m in ms]


def _frontal_points(face: Face) -> np.ndarray:
    """``(5, 2)``: the five points in 3D turned back to face the camera (the head pose's
    rotation undone), seen orthographically: their layout without the turn's foreshortening."""
    lm = face.landmarks[list(_FIVE)].astype(np.float64)
    return ((lm - lm.mean(axis=0)) @ face.pose.rotation)[:, :2]


def _transforms(face: Face, padding: float = PADDING, frontal_scale: bool = True,
                size: int = CHIP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Photo-to-chip similarities of the face and of its mirror image.

    The mirrored chip is the one the mirrored photo would give: the mirrored points (eyes
    swapped, as a mirror swaps the sides) fitted to the template, after the mirror
    ``x -> -x`` itself (the fit absorbs where the mirror puts the face).
    """
    pts = face.points[list(_FIVE)].astype(np.float64)
    mirror = list(_MIRRORED)
    flip = np.diag([-1.0, 1.0, 1.0])
    front = _frontal_points(face) if frontal_scale else None
    front_m = front[mirror] * [-1.0, 1.0] if frontal_scale else None
    return (_chip_transform(pts, padding, size, scale_points=front),
            _chip_transform(pts[mirror] * [-1.0, 1.0], padding, size, scale_points=front_m) @ flip)


def _embed(chips: list[np.ndarray]) -> np.ndarray:
    """``(N, 128)`` descriptors of ``N`` chips: in the helper process when it is running
    and free (the calling thread then waits without the GIL), else in this process."""
    chips = [np.ascontiguousarray(c, dtype=np.uint8) for c in chips]
    helper = _helper
    if HELPER and helper is not None and helper.usable() and helper.lock.acquire(blocking=False):
        try:
            return helper.embed(chips)
        except (OSError, ValueError) as exc:
            log.warning("identity helper process failed (%s); describing faces in this process", exc)
            helper.failed = True
            helper.proc.kill()  # its pipe may hold half an answer: start_helper starts another
        finally:
            helper.lock.release()
    _, model = _model()
    with _lock:
        out = model.compute_face_descriptor(chips)
    return np.asarray([np.asarray(d, np.float64) for d in out])


# The helper process: the same dlib network on the same weights, reading chips from its
# stdin and writing descriptors to its stdout. It imports only numpy and dlib (not mien),
# and ends when its stdin closes (this process exiting, however it exits).
_HELPER_CODE = """
import sys
import numpy as np
import dlib
model = dlib.face_recognition_model_v1(sys.argv[1])
inp, out = sys.stdin.buffer, sys.stdout.buffer
out.write(b"R")
out.flush()
while True:
    head = inp.read(12)
    if len(head) < 12:
        break
    n, h, w = np.frombuffer(head, "<u4")
    data = inp.read(int(n) * int(h) * int(w) * 3)
    chips = np.frombuffer(data, np.uint8).reshape(int(n), int(h), int(w), 3)
    found = model.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
    out.write(np.asarray([np.asarray(d, np.float64) for d in found], "<f8").tobytes())
    out.flush()
"""


class _Helper:
    """A second dlib in its own process, so that two threads' descriptors are computed at
    once: dlib's Python binding holds the GIL for its whole ~65 ms pass, so two threads of
    one process take turns (and stall every other thread meanwhile). Same network, same
    weights, same chips: the same descriptors, bit for bit.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.failed = False
        self.ready = False
        self.proc = subprocess.Popen([sys.executable, "-c", _HELPER_CODE, str(_weights())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)

    def _poll_ready(self) -> bool:
        """Whether the helper has said it is ready (its first byte), without waiting.

        No thread waits for it: every thread a process has had running at once leaves a
        malloc arena behind, and a process with one more arena paid ~30 % more page faults
        decoding the next photos (measured: 12 MP decode + encode 161 against 129 ms).
        """
        if not self.ready and not self.failed:
            with self.lock:
                if self.ready or self.failed:
                    return self.ready
                if os.name == "nt":  # no select on pipes: wait for it
                    waiting = True
                else:
                    waiting = bool(select.select([self.proc.stdout], [], [], 0)[0])
                if waiting:
                    try:
                        self.ready = self.proc.stdout.read(1) == b"R"
                    except (OSError, ValueError):
                        self.ready = False
                    if not self.ready:
                        self.failed = True
                        log.warning("the identity helper process did not start; describing faces in this process")
        return self.ready

    def usable(self) -> bool:
        """Started, ready, not failed, still running, and this process's own (not a fork's)."""
        return (self.pid == os.getpid() and self._poll_ready() and not self.failed
                and self.proc.poll() is None)

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """``(N, 128)`` descriptors of ``N`` ``(h, w, 3)`` ``uint8`` chips of one size.

        Raises:
            OSError: the helper died or answered short.
        """
        h, w = chips[0].shape[:2]
        self.proc.stdin.write(np.array([len(chips), h, w], "<u4").tobytes() + b"".join(c.tobytes() for c in chips))
        self.proc.stdin.flush()
        want = len(chips) * 128 * 8
        data = self.proc.stdout.read(want)
        if len(data) != want:
            raise OSError(f"the helper answered {len(data)} of {want} bytes")
        return np.frombuffer(data, "<f8").reshape(len(chips), 128).astype(np.float64)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.proc.kill()


#: Whether :func:`start_helper` starts the helper process (set ``False`` where starting
#: processes is unwelcome: every descriptor is then computed in this process).
HELPER = True

_helper: _Helper | None = None
_helper_guard = threading.Lock()


def start_helper() -> bool:
    """Start the helper process (once per process; returns at once, it is ready ~0.4 s
    later), so that two descriptors wanted at the same time are computed at the same time.

    Costs ~0.16 s of CPU to start and ~60 MB; it ends with this process. Until it is
    ready, or if it fails, descriptors are computed in this process as before.

    Returns:
        Whether the helper is ready now (``False`` when :data:`HELPER` is ``False``).

    Raises:
        MissingDependencyError: the descriptor weights are not installed.
    """
    global _helper
    # A frozen application's sys.executable is the application, not a Python.
    if not HELPER or not sys.executable or getattr(sys, "frozen", False):
        return False
    with _helper_guard:
        if _helper is not None and (_helper.pid != os.getpid() or _helper.proc.poll() is not None):
            _helper = None  # a fork's copy, or it ended: start another
        if _helper is None:
            try:
                _helper = _Helper()
            except OSError as exc:
                log.warning("could not start the identity helper process (%s); describing faces in this process",
                            exc)
                return False
            atexit.register(_helper.close)
        return _helper.usable()


def helper_ready() -> bool:
    """Whether the helper process is running and ready for descriptors."""
    helper = _helper
    return HELPER and helper is not None and helper.usable()


def descriptor(pixels: np.ndarray, face: Face) -> np.ndarray:
    """``(128,)`` ``float64`` identity descriptor of ``face`` in ``pixels`` (RGB): the mean
    of :func:`plain_descriptor` and :func:`mirrored_descriptor` (two network passes)."""
    return _embed(_chips(pixels, list(_transforms(face)))).mean(axis=0)


def plain_descriptor(pixels: np.ndarray, face: Face) -> np.ndarray:
    """``(128,)`` ``float64`` descriptor of the face's own chip only (one network pass)."""
    return _embed(_chips(pixels, [_transforms(face)[0]]))[0]


def mirrored_descriptor(pixels: np.ndarray, face: Face) -> np.ndarray:
    """``(128,)`` ``float64`` descriptor of the chip the mirrored photo would give."""
    return _embed(_chips(pixels, [_transforms(face)[1]]))[0]


#: Largest distance between a face's plain and mirrored descriptors, with a margin
#: (measured 0.21 at most, median 0.13, on 128 London and lisa faces). The full
#: descriptor is their mean, so by the triangle inequality its distance between two faces
#: lies within this of the plain descriptors' distance: a plain distance farther than
#: this from :data:`SAME_PERSON` decides alone, and only nearer ones need the mirrored
#: pass (on London, 1.5 % of same-person pairs and half of the strangers).
MIRROR_SPREAD = 0.25


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def same_person(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two descriptors are close enough to be the same person."""
    return descriptor_distance(a, b) <= SAME_PERSON


def distance(pixels_a: np.ndarray, face_a: Face, pixels_b: np.ndarray, face_b: Face) -> float:
    """Descriptor distance; at most :data:`SAME_PERSON` is the same person."""
    return descriptor_distance(descriptor(pixels_a, face_a), descriptor(pixels_b, face_b))

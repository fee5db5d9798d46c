"""Video: edit the expression of a face through a whole clip, or animate a portrait.

The walk of one frame: ``io.video`` decodes it -> :class:`mien.track.Tracker` finds the
face (from the previous frame's, no detector) and says whether the frame can be edited
-> the frame waits in a short look-ahead buffer so that codes and head pose can be
smoothed over neighbouring frames (:mod:`mien.temporal`, seed 003) and the edit faded out
before a frame that cannot be edited -> the keyframed :class:`~mien.controls.code.Edit`
at its time becomes a :class:`~mien.scene.Scene` (``controls.code.scene_of``) with the
mouth opening kept for speech -> :mod:`mien.render` at full resolution -> ``io.video``
encodes it, with the audio copied.

Before that, a survey of the clip (:func:`survey`) samples a few frames a second: it
finds whether there is a face at all, whose face to follow, the subject's pivot frames
(seed 002, :mod:`mien.pivots`) and the one frame whose open mouth gives the teeth, and
the clip's mean and spread of expression codes (for reenactment).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import tempfile
import threading
import time as clock
from collections import Counter, deque
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import render as renderer
from .controls.code import Edit, Request, scene_of
from .controls.timeline import Timeline
from .errors import InputError, NoFaceError
from .expression import Expression, frame_of, read
from .face import MIN_FACE_SIZE, Face
from .pivots import Sample
from .session import Session
from .temporal import average_codes, average_frames, code_vector, fade_weights, smooth_at, vector_code
from .track import Tracker

log = logging.getLogger(__name__)

#: The edit fades out over this many frames before a frame that cannot be edited, and
#: back in after it.
FADE_FRAMES = 6
#: Frames surveyed per second of video (more in short clips, fewer in long ones).
SURVEY_RATE = 1.0
MIN_SAMPLES = 8
MAX_SAMPLES = 150
#: Open-mouth crops the survey keeps while it samples (the mouth frame is chosen among them).
MOUTH_CROPS = 6
#: Each new eye-white measurement moves the filtered one by this fraction.
SCLERA_FOLLOW = 0.2

#: ``progress(frames done, total frames or None)``.
VideoProgress = Callable[[int, "int | None"], None]
LIPS = ("auto", "keep", "free")


@dataclass
class VideoSummary:
    """What a video edit did.

    Attributes:
        output: the file written (``None`` if nothing was written).
        frames: frames in the clip.
        edited: frames whose face was edited (including faded ones).
        passed: frames passed through unchanged, by reason.
        seconds: wall time.
        lips: ``"keep"`` or ``"free"`` as used.
    """

    output: Path | None
    frames: int = 0
    edited: int = 0
    passed: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    lips: str = "free"

    def text(self) -> str:
        """One line for the terminal."""
        why = ", ".join(f"{n} {reason}" for reason, n in self.passed.most_common())
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.edited} of {self.frames} frames edited"
                + (f"; passed through unchanged: {why}" if why else "")
                + f" (lips {self.lips}; {self.seconds:.1f} s, {rate:.1f} frames/s)")


@dataclass
class Survey:
    """A sampled look at a clip before it is edited.

    Attributes:
        fps: frames per second (the average: see ``times``).
        frames: frames in the clip (decoded).
        times: every frame's time in seconds, in order (frame-numbered keyframes of a
            variable-frame-rate clip are placed by it).
        samples: the tracked face in each sampled frame where it was found.
        identity: ``(128,)`` the tracked person's identity descriptor, or ``None``.
        pivots: K-means pivot frames over pose and expression (seed 002).
        mouth: the frame that gives mouth-interior texture, or ``None``.
        donor: the donor mouth for the face when the clip never opens its mouth.
    """

    fps: float
    frames: int
    samples: list[Sample]
    identity: np.ndarray | None = None
    times: tuple[float, ...] = ()
    pivots: list[Sample] = field(default_factory=list)
    mouth: Sample | None = None
    donor: int | None = None

    @property
    def has_face(self) -> bool:
        return bool(self.samples)

    def code_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """``(D,)`` mean and ``(D,)`` standard deviation of the sampled expression codes."""
        codes = np.array([s.code for s in self.samples])
        return codes.mean(axis=0), codes.std(axis=0)

    def mouth_session(self) -> Session | None:
        """A session on the mouth frame's crop (the reference for mouth texture)."""
        if self.mouth is None:
            return None
        return Session(self.mouth.crop, faces=(self.mouth.crop_face,), name=f"frame {self.mouth.index}")


_blas_lock = threading.Lock()
_blas_users = 0
_blas_restore: tuple | None = None  # (setter, thread count before)


def _numpy_blas():
    """``(get, set)`` for the thread count of the OpenBLAS numpy ships with, or ``None``."""
    import ctypes
    import glob

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libopenblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("64_", ""):
            get = getattr(lib, f"openblas_get_num_threads{suffix}", None)
            put = getattr(lib, f"openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                return get, put
    return None


@contextmanager
def _one_blas_thread():
    """numpy's OpenBLAS on one thread while video is edited (restored afterwards).

    Per frame the video path makes hundreds of small BLAS calls (similarity fits, code
    reads, grey conversions) from two Python threads. OpenBLAS hands each to its own
    worker, which then spins waiting for the next: on the 2-core machine that worker
    burned ~20 ms of CPU per 720p frame (4.5 s over 236 frames) that the encoder and the
    observing thread needed. Nothing here is large enough to gain from BLAS threads.
    Without numpy's bundled OpenBLAS this does nothing.
    """
    global _blas_users, _blas_restore
    with _blas_lock:
        if _blas_users == 0:
            try:
                found = _numpy_blas()
                if found is not None:
                    get, put = found
                    before = int(get())
                    if before > 1:
                        put(1)
                        _blas_restore = (put, before)
            except Exception:  # noqa: BLE001 - an optimisation only
                _blas_restore = None
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_restore is not None:
                put, before = _blas_restore
                _blas_restore = None
                put(before)


def _single_blas(fn):
    """Run ``fn`` inside :func:`_one_blas_thread`."""
    import functools

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with _one_blas_thread():
            return fn(*args, **kwargs)

    return run


def _open(path):
    from .io.video import read_video

    return read_video(path)


def survey(path: str | os.PathLike, *, face: int = 0, rate: float = SURVEY_RATE,
           progress: VideoProgress | None = None) -> Survey:
    """Sample a clip: faces, whose to follow, pivots, the mouth frame (module docstring).

    Args:
        path: the video.
        face: which face to follow where one is first found (number from the left).
        rate: frames analysed per second (fewer for long clips).
        progress: called with ``(0, total frames)`` after each sampled frame: the edit has
            not started, but a caller sees that work goes on and may stop it by raising
            from the callback (the web app's cancel).

    Raises:
        InputError: the file cannot be read as a video.
    """
    from . import detect, donors, identity, pivots
    from .retarget import opening

    with _open(path) as reader:
        info = reader.info
        fps = float(info.fps) if info.fps else 25.0
        total = info.frames or int(round(info.duration * fps))
        # A sample a second (at least MIN_SAMPLES in a short clip, at most MAX_SAMPLES);
        # a stream that states no length at all: a sample a second.
        if total > 0:
            step = max(1, min(int(round(fps / rate)), total // MIN_SAMPLES), math.ceil(total / MAX_SAMPLES))
        else:
            step = max(1, int(round(fps / rate)))
        samples: list[Sample] = []
        descriptor = None
        candidate = None  # (pixels, face): a first sighting waiting to be confirmed
        n = sampled = most_faces = 0
        # Open-mouth crops, at most MOUTH_CROPS at a time (the best by pivots.mouth_score
        # against the pose seen so far): a 4K clip's every open mouth held ~1 GB. Whose
        # mouth each shows is checked only when one is chosen (a dlib pass each, ~65 ms).
        crops: dict[int, tuple[np.ndarray, Face]] = {}  # sample position -> (crop, face in it)
        verified: set[int] = set()  # sample positions known to show the tracked person

        def sample(index: int, pixels: np.ndarray, chosen: Face, same: bool = False) -> None:
            samples.append(Sample(index, chosen, code_vector(read(chosen)), chosen.pose.angles))
            if opening(chosen.landmarks, chosen.interocular) < pivots.MOUTH_OPEN:
                return
            at = len(samples) - 1
            crops[at] = _crop(pixels, chosen)
            if same:
                verified.add(at)
            if len(crops) > MOUTH_CROPS:
                median = np.median(np.array([x.pose for x in samples]), axis=0)
                worst = min(crops, key=lambda i: pivots.mouth_score(samples[i], median))
                del crops[worst]

        for vf in reader.sampled(step):  # the frames between are decoded, not converted
            sampled += 1
            if progress is not None:
                progress(0, total or None)
            faces = [f for f in detect.analyze(vf.pixels) if f.size >= MIN_FACE_SIZE]
            most_faces = max(most_faces, len(faces))
            if not faces:
                continue
            same = False
            if descriptor is None:
                # A face counts once it is seen again near the same place in the next
                # sampled frame that has faces: a single sighting (a pattern in the
                # scenery) is not followed.
                near = [f for f in faces if candidate is not None and _near(candidate[2], f)]
                if not near:
                    candidate = (vf.index, np.array(vf.pixels), faces[face]) if face < len(faces) else None
                    continue
                first_index, first_pixels, first = candidate
                descriptor = identity.plain_descriptor(first_pixels, first)
                sample(first_index, first_pixels, first, same=True)
                chosen = near[0]
            elif len(faces) == 1:
                chosen = faces[0]
            else:
                # Several people: the tracked person by identity.
                chosen = min(faces, key=lambda f: float(np.linalg.norm(identity.plain_descriptor(vf.pixels, f)
                                                                      - descriptor)))
                if not _same(identity, vf.pixels, chosen, descriptor):
                    continue
                same = True
            sample(vf.index, vf.pixels, chosen, same)
        n = reader.decoded
        if descriptor is None and candidate is not None and sampled < 3:
            # A clip too short to see a face twice: its one sighting counts.
            first_index, first_pixels, first = candidate
            descriptor = identity.plain_descriptor(first_pixels, first)
            sample(first_index, first_pixels, first, same=True)
        if descriptor is None and 0 < most_faces <= face:
            raise InputError(f"{Path(path).name} shows at most {most_faces} face(s) at once, numbered from 0 "
                             f"from the left; face {face} does not exist", param="face",
                             allowed=f"0 to {most_faces - 1}")
    result = Survey(fps, n, samples, descriptor, times=tuple(reader.times))
    if samples:
        result.pivots = pivots.choose(samples)
        # The mouth frame (pivots.mouth_source's choice among the kept crops): pivots
        # first, then by score; only the tracked person's own open mouth may give teeth.
        median = np.median(np.array([x.pose for x in samples]), axis=0)
        pivot_frames = {x.index for x in result.pivots}
        for at in sorted(crops, key=lambda i: (samples[i].index in pivot_frames,
                                               pivots.mouth_score(samples[i], median)), reverse=True):
            crop, crop_face = crops[at]
            if at in verified or _same(identity, crop, crop_face, descriptor):
                result.mouth = samples[at] = dataclasses.replace(samples[at], crop=crop, crop_face=crop_face)
                break
        closed = min(samples, key=lambda s: s.opening)
        result.donor = donors.choose(closed.face.landmarks)
    return result


def _same(identity, pixels: np.ndarray, face: Face, descriptor: np.ndarray) -> bool:
    """Whether ``face`` is the person of ``descriptor`` (dlib identity distance)."""
    return float(np.linalg.norm(identity.plain_descriptor(pixels, face) - descriptor)) <= identity.SAME_PERSON


def _near(a: Face, b: Face) -> bool:
    """Whether ``b`` could be ``a`` seen a moment later: within a face width, similar size."""
    ratio = b.size / max(a.size, 1.0)
    return float(np.linalg.norm(b.centre - a.centre)) < a.size and 0.67 < ratio < 1.5


def _crop(pixels: np.ndarray, face: Face, margin: float = 0.8) -> tuple[np.ndarray, Face]:
    """The frame around ``face`` (its box grown by ``margin`` of the face size) and the face
    in the crop's coordinates."""
    h, w = pixels.shape[:2]
    c, r = face.centre, face.size * (0.5 + margin)
    x0, y0 = int(max(c[0] - r, 0)), int(max(c[1] - r, 0))
    x1, y1 = int(min(c[0] + r, w)), int(min(c[1] + r, h))
    crop = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    shift = np.array([x0, y0, 0], np.float32)
    box = (face.box[0] - x0, face.box[1] - y0, face.box[2] - x0, face.box[3] - y0)
    return crop, Face(0, face.landmarks - shift, box, face.score, crop.shape[:2])


@dataclass
class _Item:
    frame: object
    observation: object
    pose: object = None
    code: Expression | None = None


def _lips_mode(lips: str, has_audio: bool) -> str:
    mode = str(lips).strip().lower()
    if mode not in LIPS:
        raise InputError(f"lips must be one of {', '.join(LIPS)}, got {lips!r}", param="lips", allowed=", ".join(LIPS))
    if mode == "auto":
        return "keep" if has_audio else "free"
    return mode


def _timeline(keyframes, controls: Mapping) -> Timeline:
    if keyframes is not None and controls:
        raise InputError("give either keyframes or controls for the whole clip, not both", param="keyframes")
    if keyframes is None:
        return Timeline.constant(Request.from_controls(**controls).edit)
    if isinstance(keyframes, Timeline):
        return keyframes
    if isinstance(keyframes, (dict, list)):
        return Timeline.from_json(keyframes)
    text = str(keyframes)
    if text.strip().endswith(".json") or _is_file(text):
        return Timeline.load(text)
    return Timeline.parse(text)


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a long keyframe text is not a path
        return False


@_single_blas
def edit_video(source: str | os.PathLike, output: str | os.PathLike, *, keyframes=None, face: int = 0,
               lips: str = "auto", smooth: int = 1, passthrough: bool = False, quality: int | None = None,
               lossless: bool = False, codec: str | None = None, progress: VideoProgress | None = None,
               **controls) -> VideoSummary:
    """Edit the expression of one face through a clip, frame by frame, at full resolution.

    Args:
        source: the video file.
        output: where to write the edited video (written atomically; never the input).
        keyframes: a :class:`~mien.controls.timeline.Timeline`, its text form
            (``"0s:none, 4s:happy@0.6, 12s:happy@0.6, 13s:none"``), a JSON keyframe file's
            path or its parsed JSON. ``None``: ``controls`` apply to the whole clip.
        face: which face to follow (number from the left where it is first seen).
        lips: ``"keep"`` the mouth's opening of every frame (speech stays in sync),
            ``"free"``, or ``"auto"``: keep when the clip has an audio track.
        smooth: Hanning smoothing radius in frames for codes and head pose (0 off,
            1 = seed 003's t-1, t, t+1).
        passthrough: when no face is found anywhere, write an unchanged copy instead of
            refusing.
        quality, lossless, codec: encoder settings (:class:`mien.io.video.VideoWriter`).
        progress: called with ``(frames done, total)`` after each frame written, and with
            ``(0, total)`` while the clip is first looked at (the survey); raising from it
            stops the edit with nothing written.
        **controls: photo-edit controls for the whole clip (``emotion``, ``intensity``,
            ``au``, sliders, ``magnify``, ``keep``, ``neutralize``, ``expression``).

    Returns:
        A :class:`VideoSummary`.

    Raises:
        InputError: a bad file, control, keyframe or option (``param`` says which).
        NoFaceError: no face anywhere in the clip (and not ``passthrough``).
    """
    from .io.video import check_video_output_path

    started = clock.perf_counter()
    source, output = Path(source), check_video_output_path(output, [source])
    face = _face_number(face)
    timeline = _timeline(keyframes, controls)
    _lips_mode(lips, True)  # refuse a bad value before any work
    with _one_blas_thread():
            return _edit_clip(source, output, timeline.at, timeline.needs_current, face=face,
                          lips=lips, smooth=_radius(smooth), passthrough=passthrough,
                          encoder=_encoder(quality, lossless, codec), progress=progress, started=started)


def _edit_clip(source: Path, output: Path, edit_at: Callable[..., Edit], needs_code: bool, *,
               face: int, lips: str, smooth: int, passthrough: bool, encoder: dict,
               progress: VideoProgress | None, started: float, looked: Survey | None = None) -> VideoSummary:
    """Stream ``source`` into ``output`` with ``edit_at(seconds, fps, frame_times)`` applied to the tracked
    face; ``looked`` is the clip's survey if the caller has made it already."""
    from .io.video import VideoWriter

    if looked is None:
        looked = survey(source, face=face, progress=progress)
    if not looked.has_face:
        return _no_face(source, output, looked, passthrough, started)
    mouth = looked.mouth_session()
    summary = VideoSummary(output)
    sclera, sclera_segment = None, -1
    folds: dict = {}
    with _open(source) as reader:
        info = reader.info
        fps = float(info.fps) if info.fps else looked.fps
        summary.lips = _lips_mode(lips, info.has_audio)
        keep_mouth = summary.lips == "keep"
        tracker = Tracker(face, looked.identity)
        total = info.frames or looked.frames
        with VideoWriter(output, reader, **encoder) as writer:
            def emit(window: list[_Item], centre: int) -> None:
                nonlocal sclera, sclera_segment
                item = window[centre]
                vf, obs = item.frame, item.observation
                weight = _fade(window, centre)
                edit = edit_at(vf.time, fps, looked.times) * weight
                out, region = vf.pixels, None
                if obs.usable and weight > 0 and not edit.is_empty:
                    segments = [w.observation.segment for w in window]
                    pose = smooth_at([w.pose for w in window], segments, centre, smooth, average_frames)
                    state = Session(vf.pixels, faces=(obs.face,), name=f"frame {vf.index}").faces[0]
                    state.assume(frame=pose, donor=looked.donor)
                    current = None
                    if needs_code:
                        current = smooth_at([w.code for w in window], segments, centre, smooth, average_codes)
                        state.assume(code=current)
                    sclera = _follow(sclera if obs.segment == sclera_segment else None, state.sclera)
                    sclera_segment = obs.segment
                    state.assume(sclera=sclera)
                    # The light and skin the creases are drawn in: measured once per shot.
                    if obs.segment not in folds:
                        folds[obs.segment] = state.folds
                    state.assume(folds=folds[obs.segment])
                    change = edit.change(state.canonical, current)
                    scene = state.lit(_whites_lit(scene_of(state, change, rotation=edit.rotation,
                                                           keep_mouth=keep_mouth, reference=mouth), mouth))
                    if not scene.changes_nothing:
                        plan = renderer.plan(vf.pixels, scene, work_px=_work_px(obs.face), preview=False)
                        out = renderer.execute(vf.pixels, plan)
                        g = plan.grid  # execute changes nothing outside the grid's crop
                        region = (g.y0, g.y0 + g.full_size[0], g.x0, g.x0 + g.full_size[1])
                if out is vf.pixels:
                    summary.passed[obs.reason or ("edit faded out" if obs.usable and weight == 0 else "no change")] += 1
                else:
                    summary.edited += 1
                writer.write(out, vf, region)
                summary.frames += 1
                if progress is not None:
                    progress(summary.frames, total)

            _stream(reader, tracker, emit, max(smooth, FADE_FRAMES), needs_code)
    summary.seconds = clock.perf_counter() - started
    return summary


def _observed(reader, tracker: Tracker, needs_code: bool):
    """Each frame with what the tracker saw in it, its head pose and (if needed) its code."""
    for vf in reader:
        obs = tracker.step(vf.pixels)
        item = _Item(vf, obs)
        if obs.usable:  # an occluded face's landmarks must not enter the neighbours' smoothing
            item.pose = frame_of(obs.face.landmarks)
            if needs_code:
                item.code = read(obs.face, item.pose.to_canonical(obs.face.landmarks))
        yield item


#: Frames decoded and observed ahead of the one being rendered (the observing thread's lead).
OBSERVE_AHEAD = 8


def _ahead(items, size: int = OBSERVE_AHEAD):
    """``items`` produced by a second thread while the caller works on earlier ones.

    Decoding, the face mesh and the encoder release the GIL, so observing the next frames
    overlaps rendering and encoding this one (two cores: about the sum of the two stages
    becomes the larger of them). Memory stays bounded by ``size`` frames; an error in the
    producer is raised here, and stopping early (an error or Ctrl-C in the caller) stops
    the producer.
    """
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    done = object()

    def hand(item) -> bool:
        """Queue ``item`` unless the consumer has stopped; whether it was queued."""
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand(item):
                    return
            hand(done)
        except BaseException as exc:  # handed to the consumer
            hand(exc)

    worker = threading.Thread(target=produce, name="mien-observe", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _stream(reader, tracker: Tracker, emit, lookahead: int, needs_code: bool) -> None:
    """Observe each frame (in a second thread), keep ``lookahead`` frames on either side
    of the one emitted."""
    window: deque[_Item] = deque()
    emitted = 0  # index (in the stream) of the next frame to emit
    first = 0  # stream index of window[0]
    items = _ahead(_observed(reader, tracker, needs_code))
    try:
        for item in items:
            window.append(item)
            while emitted + lookahead < first + len(window):
                emit(list(window), emitted - first)
                emitted += 1
                while emitted - first > lookahead:
                    window.popleft()
                    first += 1
    finally:
        items.close()  # an error or Ctrl-C here stops the observing thread now
    while emitted < first + len(window):
        emit(list(window), emitted - first)
        emitted += 1


#: Working resolution across a video face. The field is smooth and is upsampled once to
#: full resolution (seed 001), and texture is sampled at full resolution either way; a
#: coarser grid than a photo's halves the per-frame cost (720p: plan 27 -> 14 ms,
#: execute 27 -> 16 ms) where every frame must be done in tens of milliseconds.
VIDEO_FACE_PX = 192


def _work_px(face: Face) -> int:
    """Working resolution for a video face: :data:`VIDEO_FACE_PX`, never finer than the
    face itself."""
    return int(min(VIDEO_FACE_PX, max(96, math.ceil(face.size))))


def _fade(window: list[_Item], centre: int) -> float:
    """Edit weight of the centre frame (:func:`mien.temporal.fade_weights` over the
    window, which reaches :data:`FADE_FRAMES` frames both ways)."""
    return float(fade_weights([item.observation.usable for item in window], FADE_FRAMES)[centre])


def _whites_lit(scene, mouth: Session | None):
    """The mouth frame's teeth lit relative to the eye whites, as a donor's are.

    Its skin-ratio light match (meant for two photos of one expression) compares a smiling
    frame's cheeks with a neutral frame's: the raised, brighter cheeks tinted the teeth
    pink (measured gain 0.90, 0.75, 0.77). Both frames come from one camera, so the eye
    whites carry the light exactly (:func:`mien.texture.white_gain`).
    """
    import dataclasses

    if mouth is None or not scene.layers:
        return scene
    ref = mouth.faces[0]
    layers = tuple(dataclasses.replace(lay, own_person=False, white=ref.sclera) if lay.pixels is ref.pixels else lay
                   for lay in scene.layers)
    return dataclasses.replace(scene, layers=layers)


def _follow(filtered, measured):
    """The eye whites filtered over time (the donor teeth's colour does not flicker)."""
    if filtered is None:
        return measured
    import dataclasses

    a = SCLERA_FOLLOW
    return dataclasses.replace(measured, colour=(1 - a) * np.asarray(filtered.colour) + a * np.asarray(measured.colour),
                               skin=(1 - a) * np.asarray(filtered.skin) + a * np.asarray(measured.skin))


def _face_number(face) -> int:
    if isinstance(face, bool) or not isinstance(face, (int, np.integer)) or face < 0:
        raise InputError(f"face must be a number from 0 (faces are numbered from the left), got {face!r}",
                         param="face", allowed="0 .. N-1")
    return int(face)


def _radius(smooth) -> int:
    try:
        r = int(smooth)
    except (TypeError, ValueError):
        raise InputError(f"smooth must be a whole number of frames from 0, got {smooth!r}", param="smooth") from None
    if not 0 <= r <= 12 or r != float(smooth):
        raise InputError(f"smooth must be a whole number of frames from 0 to 12, got {smooth!r}",
                         param="smooth", allowed="0 to 12")
    return r


def _encoder(quality, lossless, codec) -> dict:
    out = {"lossless": bool(lossless)}
    if quality is not None:
        out["quality"] = int(quality)
    if codec is not None:
        out["codec"] = codec
    return out


def _no_face(source: Path, output: Path, looked: Survey, passthrough: bool, started: float) -> VideoSummary:
    if not passthrough:
        raise NoFaceError(f"no face found anywhere in {source.name}; nothing written (use --passthrough "
                          "to write an unchanged copy)", param="video")
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        shutil.copymode(source, tmp)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    summary = VideoSummary(output, frames=looked.frames, lips="free")
    summary.passed["no face"] = looked.frames
    summary.seconds = clock.perf_counter() - started
    return summary


#: Head turns followed from a driving clip stay within this many degrees (the warp's range).
MAX_FOLLOW_DEGREES = 15.0
#: A driving clip's own neutral: this percentile of each direction's amount over the clip.
NEUTRAL_PERCENTILE = 10
POSES = ("keep", "follow")
#: Codes read from landmarks are shrunk toward zero (``expression.READ_SHRINK``): applying
#: a read change to the same neutral face reproduces the real change best at this gain
#: (median over 20 training London pairs, neutral -> happy: 1.24; quartiles 1.17-1.30).
READ_GAIN = 1.25


@dataclass
class _Driving:
    """Every frame of a driving clip, read once: time, expression code and head pose."""

    times: np.ndarray  # (N,) seconds
    codes: np.ndarray  # (N, D) smoothed codes (NaN rows: no usable face)
    poses: np.ndarray  # (N, 3) yaw, pitch, roll degrees (NaN rows: no usable face)
    fps: float
    frames: list = field(default_factory=list)  # (index, time, pts, time_base, duration) per frame

    def at(self, seconds: float) -> int | None:
        """The driving frame shown at ``seconds`` (held after the last), or ``None``."""
        i = int(np.searchsorted(self.times, seconds + 1e-6) - 1)
        return min(max(i, 0), len(self.times) - 1) if len(self.times) else None

    def neutral(self) -> np.ndarray:
        """``(D,)`` the clip's own neutral: a low percentile of each direction's amount."""
        ok = ~np.isnan(self.codes).any(axis=1)
        return np.percentile(self.codes[ok], NEUTRAL_PERCENTILE, axis=0)

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        ok = ~np.isnan(self.codes).any(axis=1)
        return self.codes[ok].mean(axis=0), self.codes[ok].std(axis=0)

    def rest_pose(self) -> np.ndarray:
        ok = ~np.isnan(self.poses).any(axis=1)
        return np.median(self.poses[ok], axis=0)


def _read_driving(driving: Path, smooth: int, progress: VideoProgress | None) -> _Driving:
    """Track the face through the whole driving clip and read its code in every frame."""
    looked = survey(driving, progress=progress)
    if not looked.has_face:
        raise NoFaceError(f"no face found anywhere in the driving clip {driving.name}; use a clip that shows a face",
                          param="driving")
    times, codes, poses, frames = [], [], [], []
    with _open(driving) as reader:
        tracker = Tracker(0, looked.identity)
        window: deque = deque()
        for vf in reader:
            if progress is not None:  # the output has not started: frames done stay 0
                progress(0, looked.frames or None)
            obs = tracker.step(vf.pixels)
            times.append(vf.time)
            frames.append((vf.index, vf.time, vf.pts, vf.time_base, vf.duration))
            if obs.usable:
                codes.append(code_vector(read(obs.face)))
                poses.append(np.array(obs.face.pose.angles))
            else:
                codes.append(None)
                poses.append(None)
            window.append(obs.segment)
    if all(c is None for c in codes):
        raise NoFaceError(f"no usable face in the driving clip {driving.name} (too small or covered in every "
                          "frame); use a clip that shows a face", param="driving")
    segments = list(window)
    n_dir = len(code_vector(Expression({})))
    smoothed = np.full((len(codes), n_dir), np.nan)
    pose_arr = np.full((len(codes), 3), np.nan)
    mean = lambda vals, w: np.tensordot(w, np.stack(vals), axes=1)  # noqa: E731
    for i in range(len(codes)):
        if codes[i] is not None:
            smoothed[i] = smooth_at(codes, segments, i, smooth, mean)
            pose_arr[i] = smooth_at(poses, segments, i, smooth, mean)
    return _Driving(np.array(times), smoothed, pose_arr, looked.fps, frames)


@_single_blas
def reenact(source: str | os.PathLike, driving: str | os.PathLike, output: str | os.PathLike, *,
            pose: str = "keep", audio: bool = True, face: int = 0, strength: float = 1.0, smooth: int = 1,
            quality: int | None = None, lossless: bool = False, codec: str | None = None,
            progress: VideoProgress | None = None) -> VideoSummary:
    """Give ``source`` the expressions of a driving clip (seed 002's reenactment).

    Expressions are taken relative to each side's own: the driving code of each frame
    minus the driving clip's own neutral (a low percentile of each direction over the clip)
    is added to a photo's own expression; a video source's codes are matched in mean and
    spread to the driving clip's (seed 002's normalisation). The mouth follows the driving
    clip (its opening is part of the code), with the source's own teeth when it shows
    them, else a donor's.

    Args:
        source: a photo (portrait animation: one output frame per driving frame, at the
            driving clip's timestamps) or a video (its frames take the driving
            expression shown at the same time; the driving clip's last frame is held).
        driving: the driving video.
        output: the video to write.
        pose: ``"keep"`` the source's head pose, or ``"follow"`` the driving head turns
            (relative to its median pose, within +-15 degrees).
        audio: copy the driving clip's audio (a photo source) or keep the source's (a
            video source).
        face: the source face to animate (number from the left).
        strength: scale of the driving expression (1 as driven).
        smooth: Hanning smoothing radius in frames.

    Returns:
        A :class:`VideoSummary`.

    Raises:
        InputError: a bad file or option; NoFaceError: no face in the source or driving clip.
    """
    from .io.video import CONTAINERS, check_video_output_path

    started = clock.perf_counter()
    source, driving = Path(source), Path(driving)
    output = check_video_output_path(output, [source, driving])
    face = _face_number(face)
    mode = str(pose).strip().lower()
    if mode not in POSES:
        raise InputError(f"pose must be keep or follow, got {pose!r}", param="pose", allowed="keep, follow")
    strength = float(strength)
    if not 0.0 <= strength <= 2.0:
        raise InputError(f"strength must be between 0 and 2, got {strength}", param="strength", allowed="0 to 2")
    radius = _radius(smooth)
    encoder = _encoder(quality, lossless, codec)
    if not driving.exists():
        raise InputError(f"{driving}: driving clip does not exist; check the path", param="driving")
    drive = _read_driving(driving, radius, progress)
    rest = drive.rest_pose()
    follow = mode == "follow"

    def rotation_at(i: int) -> tuple[float, float, float]:
        if not follow or np.isnan(drive.poses[i]).any():
            return (0.0, 0.0, 0.0)
        return tuple(float(v) for v in np.clip(drive.poses[i] - rest, -MAX_FOLLOW_DEGREES, MAX_FOLLOW_DEGREES))

    if source.suffix.lower() in CONTAINERS:
        src_look = survey(source, face=face, progress=progress)
        if not src_look.has_face:
            raise NoFaceError(f"no face found anywhere in {source.name}; use a clip that shows a face", param="source")
        mean_s, std_s = src_look.code_stats()
        mean_d, std_d = drive.stats()
        ratio = np.where(std_d > 1e-3, std_s / np.maximum(std_d, 1e-3), 1.0)

        def edit_at(seconds: float, fps: float, _frame_times=None) -> Edit:
            i = drive.at(seconds)
            if i is None or np.isnan(drive.codes[i]).any():
                return Edit()
            wanted = np.clip((drive.codes[i] - mean_d) * ratio + mean_s, 0.0, None)
            return Edit(on_current=-strength, offset=vector_code(wanted) * strength, rotation=rotation_at(i))

        return _edit_clip(source, output, edit_at, True, face=face, lips="free", smooth=radius,
                          passthrough=False, encoder={**encoder, "audio": bool(audio)}, progress=progress,
                          started=started, looked=src_look)
    return _animate_photo(source, driving, output, drive, rotation_at, face=face, strength=strength,
                          audio=audio, encoder=encoder, progress=progress, started=started)


def _animate_photo(source: Path, driving: Path, output: Path, drive: _Driving, rotation_at, *, face: int,
                   strength: float, audio: bool, encoder: dict, progress: VideoProgress | None,
                   started: float) -> VideoSummary:
    """One frame per driving frame: the photo with the driving expression, relative to
    the driving clip's own neutral, added to the photo's own."""
    import dataclasses

    from .image import to_uint8
    from .io import read_photo
    from .io.video import VideoFrame, VideoWriter

    photo = read_photo(source)
    pixels = to_uint8(photo.pixels)
    h, w = (pixels.shape[0] // 2) * 2, (pixels.shape[1] // 2) * 2  # whole chroma samples
    pixels = np.ascontiguousarray(pixels[:h, :w])
    session = Session(pixels, name=f"photo {source.name}")
    state = session.choose(face)[0]
    neutral = drive.neutral()
    summary = VideoSummary(output, lips="free")
    with _open(driving) as reader:
        info = dataclasses.replace(reader.info, width=w, height=h, coded_width=w, coded_height=h, rotation=0,
                                   pix_fmt="yuv420p", colorspace=1, color_primaries=1, color_trc=1, color_range=1)
        with VideoWriter(output, info, **encoder, audio=driving if audio and reader.info.has_audio else False,
                         protect=[source, driving]) as writer:
            last, last_out = None, pixels
            for i, (index, seconds, pts, time_base, duration) in enumerate(drive.frames):
                code = drive.codes[i]
                if np.isnan(code).any():
                    out = last_out  # no face in the driving frame: hold the last expression
                    summary.passed["no face in the driving clip"] += 1
                else:
                    relative = np.clip(code - neutral, 0.0, None) * (strength * READ_GAIN)
                    key = (relative.round(3).tobytes(), rotation_at(i))
                    if key != last:
                        change = Expression({}) + vector_code(relative)
                        scene = state.lit(scene_of(state, change, rotation=rotation_at(i)))
                        last_out = pixels if scene.changes_nothing else renderer.execute(
                            pixels, renderer.plan(pixels, scene, preview=False))
                        last = key
                    out = last_out
                    summary.edited += 1
                writer.write(out, VideoFrame(index, seconds, pixels, pts, time_base, duration))
                summary.frames += 1
                if progress is not None:
                    progress(summary.frames, len(drive.frames))
    summary.seconds = clock.perf_counter() - started
    return summary

"""Decode and encode video with PyAV: stream frames, keep timestamps, audio, rotation, colour.

Reading (:func:`read_video`) yields :class:`VideoFrame` objects one at a time (memory stays
bounded however long the clip): ``pixels`` is ``(H, W, 3)`` ``uint8`` RGB, upright (the
file's display rotation applied), C-contiguous and read-only. Each frame also keeps the
decoded YUV planes, its pts and time base.

Writing (:class:`VideoWriter`) re-encodes each frame from the *source's own decoded YUV
planes*: only pixels where the edited RGB differs from ``frame.pixels`` are converted back
to YUV (with the inverse of the exact matrix and range used to decode them) and pasted in,
grown to whole chroma samples. An unchanged frame is encoded from its original planes, so
with a lossless codec (``lossless=True``) every pixel outside the changed chroma blocks
decodes identically to the input. Timestamps (pts and time base, so variable frame rate
survives), frame count, size, colour range / matrix / primaries / transfer and the display
rotation are carried over; audio packets are copied bit-exactly when the output container
can hold their codec (otherwise re-encoded to AAC, or Opus for WebM, and logged). Output
is written to a temporary file beside the target and renamed into place on a clean exit;
an exception (including KeyboardInterrupt) removes it.

Colour convention: ``pixels`` are the YUV samples converted with the file's own matrix
(BT.601, BT.709 or BT.2020; unspecified means BT.709 from 720 lines up, BT.601 below) and
range (limited "tv" unless the file says full "pc"), chroma upsampled by replication
(nearest), rounded and clipped to 0..255. They are treated as sRGB downstream.

Formats: the exact-plane path covers 8-bit planar YUV (yuv420p, yuv422p, yuv444p, yuv440p
and their full-range "j" variants): most camera, phone and web video. HDR phone clips
(10-bit HEVC) are not.
Other pixel formats (10-bit, NV12, RGB...) are decoded by swscale and re-encoded whole from
RGB into yuv420p (not bit-exact outside the edit; logged once).

Limits: Matroska stores times in milliseconds (pts are rounded to 1 ms there; MP4/MOV
keep the source time base exactly); display matrices with a mirror flip are read as their
rotation only; 10-bit/HDR sources come out 8-bit with their colour tags but no tone
mapping; re-encoded audio restarts at time 0; ``audio=path`` copies that file's whole
first audio stream; a process killed outright (SIGKILL, power loss) can leave its hidden
temporary file (the output's name with a leading dot, a random part and ``.part``) beside
the output.

Truncated files: frames are decoded up to the damage; then a warning is logged,
:attr:`VideoReader.truncated` is set and iteration stops (packets damaged in the middle
are skipped and counted in ``bad_packets``). A file whose index is gone (an MP4
cut before its ``moov`` box) cannot be opened at all and raises :class:`InputError`.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from ..errors import InputError, MissingDependencyError
from .photo import EDIT_NOTE, check_writable

log = logging.getLogger(__name__)

#: x264/x265 preset used by default: ``medium`` (x264's own default). Every frame is
#: re-encoded, so the encoder decides how much the *unedited* parts of the picture lose.
#: On a 720p talking clip at CRF 18 (benchmarks/speed_video_io.py, 2-core CPU) medium gave
#: 46.8 dB PSNR against the decoded input, ``faster`` 45.5 dB and ``veryfast`` 44.4 dB,
#: all at the same file size (~2.5 MB per 10 s), for ~30, ~20 and ~14 ms of CPU per frame:
#: small beside a face edit (analysis alone is ~25 ms per frame). Pass ``preset="veryfast"``
#: when speed matters more than the last dB.
DEFAULT_PRESET = "medium"
DEFAULT_QUALITY = 18

#: Output containers by suffix.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}

#: Audio codecs each container may receive as copied packets (others are re-encoded).
_AUDIO_COPY = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_s16be"},
    "matroska": None,  # anything FFmpeg can mux in Matroska
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "ac3", "pcm_s16le"},
}
_AUDIO_ENCODER = {"webm": "libopus"}

# pixel format -> (log2 chroma subsampling x, y, full range)
_PLANAR = {
    "yuv420p": (1, 1, False), "yuvj420p": (1, 1, True),
    "yuv422p": (1, 0, False), "yuvj422p": (1, 0, True),
    "yuv444p": (0, 0, False), "yuvj444p": (0, 0, True),
    "yuv440p": (0, 1, False), "yuvj440p": (0, 1, True),
}
# FFmpeg AVColorSpace values -> (Kr, Kb)
_BT601, _BT709, _BT2020 = (0.299, 0.114), (0.2126, 0.0722), (0.2627, 0.0593)
_MATRICES = {1: _BT709, 4: (0.30, 0.11), 5: _BT601, 6: _BT601, 7: (0.212, 0.087), 9: _BT2020, 10: _BT2020}
_RANGE_PC = 2  # AVCOL_RANGE_JPEG


def _av():
    try:
        import av  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching in tests
        raise MissingDependencyError(
            "video needs PyAV, which is not installed; run: pip install 'mien[video]'", param="video"
        ) from exc
    return av


# ---------------------------------------------------------------------------------------
# colour


@dataclass(frozen=True)
class ColourModel:
    """How 8-bit YUV samples of one stream map to RGB and back.

    ``to_rgb`` and ``from_rgb`` are ``(3, 4)`` float64 affine matrices acting on
    ``(Y, U, V, 1)`` and ``(R, G, B, 1)`` with values in 0..255; they are exact inverses.
    """

    kr: float
    kb: float
    full: bool

    @cached_property
    def to_rgb(self) -> np.ndarray:
        kr, kb = self.kr, self.kb
        kg = 1.0 - kr - kb
        sy, sc, oy = (1.0, 1.0, 0.0) if self.full else (255 / 219, 255 / 224, 16.0)
        m = np.zeros((3, 4))
        m[0, :3] = [sy, 0.0, 2 * (1 - kr) * sc]
        m[1, :3] = [sy, -2 * (1 - kb) * kb * sc / kg, -2 * (1 - kr) * kr * sc / kg]
        m[2, :3] = [sy, 2 * (1 - kb) * sc, 0.0]
        m[:, 3] = -m[:, 0] * oy - (m[:, 1] + m[:, 2]) * 128.0
        return m

    @cached_property
    def from_rgb(self) -> np.ndarray:
        full = np.vstack([self.to_rgb, [0, 0, 0, 1]])
        return np.linalg.inv(full)[:3]


def colour_model(colorspace: int, color_range: int, height: int, pix_fmt: str = "") -> ColourModel:
    """The YUV<->RGB model for FFmpeg's ``colorspace``/``color_range`` enums.

    Unspecified matrices follow the usual player convention (BT.709 from 720 lines, else
    BT.601); unspecified range is limited ("tv") unless the pixel format is a "j" one.
    """
    kr, kb = _MATRICES.get(int(colorspace), _BT709 if height >= 720 else _BT601)
    full = int(color_range) == _RANGE_PC or pix_fmt.startswith("yuvj")
    return ColourModel(kr, kb, full)


def _upsample(plane: np.ndarray, sx: int, sy: int, h: int, w: int) -> np.ndarray:
    """Replicate a chroma plane ``(h >> sy, w >> sx)`` to ``(h, w)`` (nearest)."""
    if sx == 0 and sy == 0:
        return plane
    ph, pw = plane.shape
    big = cv2.resize(plane, (pw << sx, ph << sy), interpolation=cv2.INTER_NEAREST)
    return big[:h, :w]


def yuv_to_rgb(planes: list[np.ndarray], model: ColourModel, sub: tuple[int, int]) -> np.ndarray:
    """Convert 8-bit planes ``[Y (H, W), U, V]`` to ``(H, W, 3)`` uint8 RGB (rounded, clipped)."""
    y = planes[0]
    h, w = y.shape
    u = _upsample(planes[1], sub[0], sub[1], h, w)
    v = _upsample(planes[2], sub[0], sub[1], h, w)
    return cv2.transform(cv2.merge([np.ascontiguousarray(y), np.ascontiguousarray(u), np.ascontiguousarray(v)]),
                         model.to_rgb)


def rgb_to_yuv(rgb: np.ndarray, model: ColourModel) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W, 3)`` float32 YUV (unrounded, unsubsampled)."""
    return cv2.transform(rgb.astype(np.float32), model.from_rgb)


_ONES = np.ones((1, 3))  # sums three channels into one (cv2.transform)


def _stored_box(box: tuple[int, int, int, int], k: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """An upright ``(y0, y1, x0, x1)`` box of an ``size`` ``(h, w)`` frame in the stored
    orientation (``np.rot90(upright, k)``), clipped to the frame."""
    h, w = size
    y0, y1, x0, x1 = max(0, box[0]), min(h, box[1]), max(0, box[2]), min(w, box[3])
    k %= 4
    if k == 1:  # stored[i, j] = upright[j, w - 1 - i]
        return w - x1, w - x0, y0, y1
    if k == 2:
        return h - y1, h - y0, w - x1, w - x0
    if k == 3:  # stored[i, j] = upright[h - 1 - j, i]
        return x0, x1, h - y1, h - y0
    return y0, y1, x0, x1


def _plane_views(frame: Any) -> list[np.ndarray]:
    """Numpy views ``(height, width)`` uint8 of an av.VideoFrame's planes (no copy)."""
    out = []
    for pl in frame.planes:
        a = np.frombuffer(pl, np.uint8)
        out.append(a[: pl.height * pl.line_size].reshape(pl.height, pl.line_size)[:, : pl.width])
    return out


# ---------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read once when it is opened.

    ``width``/``height`` are those of the frames as yielded (upright: rotation applied);
    ``coded_width``/``coded_height`` those stored in the file. ``rotation`` is the clockwise
    turn (0, 90, 180, 270 degrees) a player applies to the stored frames (the old
    ``rotate`` tag's convention; FFmpeg's display matrix says -90 for a rotate=90 clip).
    Colour fields hold FFmpeg enum values (``color_range`` 1 = tv/limited, 2 = pc/full,
    0 = unspecified; ``colorspace`` 1 = BT.709, 5/6 = BT.601, 9 = BT.2020, 2 = unspecified).
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int | None
    duration: float
    rotation: int
    has_audio: bool
    codec: str
    time_base: Fraction = Fraction(1, 90000)
    start_pts: int = 0
    coded_width: int = 0
    coded_height: int = 0
    pix_fmt: str = "yuv420p"
    color_range: int = 0
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2
    bit_rate: int | None = None
    audio_codec: str | None = None
    container: str = ""
    frames_exact: bool = False  # ``frames`` came from the file's index, not an estimate
    sample_aspect_ratio: Fraction | None = None  # of a pixel, when the file says it is not square
    tags: tuple[tuple[str, str], ...] = ()  # container metadata (creation_time, title, ...)
    language: str | None = None  # of the video stream

    @property
    def model(self) -> ColourModel:
        """The YUV<->RGB model used to decode (and re-encode) this stream."""
        return colour_model(self.colorspace, self.color_range, self.coded_height, self.pix_fmt)


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded frame.

    Attributes:
        index: 0-based decode (= presentation) order.
        time: seconds from the start of the video stream, ``(pts - start_pts) * time_base``.
        pixels: ``(H, W, 3)`` uint8 RGB, upright, C-contiguous, read-only (copy to edit).
        pts: presentation timestamp in ``time_base`` units, as in the file.
        time_base: the stream's time base.
        duration: frame duration in ``time_base`` units (0 if unknown).
        rotation: the file's clockwise display rotation (degrees), as in :class:`VideoInfo`.
        source: the decoded ``av.VideoFrame`` (stored orientation, original YUV planes), used
            by :class:`VideoWriter`; do not modify it.
    """

    index: int
    time: float
    pixels: np.ndarray
    pts: int = 0
    time_base: Fraction = Fraction(1, 90000)
    duration: int = 0
    rotation: int = 0
    source: Any = field(default=None, repr=False)


# ---------------------------------------------------------------------------------------
# reading


_IMAGE_CODECS = {"mjpeg", "png", "bmp", "tiff", "webp", "jpegls", "jpeg2000", "ppm", "pgm", "pbm", "pam",
                 "qoi", "heif", "avif"}


class VideoReader:
    """An open video file. Use as a context manager; iterate to stream :class:`VideoFrame`s.

    Each ``for`` loop over the reader decodes the file from the start again. ``info`` is
    read at open time (the first frame is decoded then, to learn the rotation and to refuse
    undecodable files early). After iteration, ``truncated`` says whether decoding stopped
    at damage before the end of the file, ``bad_packets`` counts damaged packets skipped on
    the way, ``decoded`` counts the frames decoded and ``times`` holds each one's time in
    seconds (also those :meth:`sampled` skips: variable-frame-rate clips need them).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.truncated = False
        self.decoded = 0
        self._container = None
        av = _av()
        if not self.path.exists():
            raise InputError(f"{self.path}: file does not exist; check the path", param="video")
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder; give a video file", param="video")
        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            if _mp4_without_index(self.path):
                raise InputError(
                    f"{self.path}: MP4/MOV file without its index (moov box): it was cut short (an interrupted "
                    "recording, copy or download); copy the complete file again",
                    param="video",
                ) from exc
            raise InputError(
                f"{self.path}: not a video file mien can read, or corrupt/truncated ({_why(exc)}); "
                "give an MP4/MOV/MKV/WebM video",
                param="video",
            ) from exc
        self._container = container
        try:
            self.info = self._probe(container)
        except BaseException:
            self.close()
            raise

    def _probe(self, container: Any) -> VideoInfo:
        av = _av()
        fmt = container.format.name
        if not container.streams.video:
            kind = "audio only" if container.streams.audio else "no video stream"
            raise InputError(f"{self.path}: has no video stream ({kind}); give a video file", param="video")
        stream = container.streams.video[0]
        cname = stream.codec_context.codec.canonical_name if stream.codec_context else "unknown"
        single = stream.frames == 1 or (not stream.frames and not stream.duration and not container.duration)
        if "_pipe" in fmt or fmt in {"image2", "webp", "png", "apng"} or (cname in _IMAGE_CODECS and single):
            raise InputError(f"{self.path}: is an image, not a video; edit photos with `mien edit`", param="video")
        first = None
        try:
            for frame in self._decode(container, stream):
                first = frame
                break
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.path}: video cannot be decoded ({_why(exc)}); the file is corrupt",
                             param="video") from exc
        if first is None:
            raise InputError(f"{self.path}: no video frame could be decoded; the file is empty or corrupt",
                             param="video")
        rotation = (-int(round(first.rotation or 0))) % 360
        rotation = int(round(rotation / 90.0)) * 90 % 360
        tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        fps = Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate or 25)
        start = stream.start_time if stream.start_time is not None else (first.pts or 0)
        if stream.duration:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / 1e6
        else:
            duration = 0.0
        frames = int(stream.frames) if stream.frames else None
        exact = frames is not None
        if frames is None and duration > 0:
            frames = int(round(duration * fps))
        if not duration and frames:
            duration = float(frames / fps)
        cw, ch = first.width, first.height
        w, h = (ch, cw) if rotation in (90, 270) else (cw, ch)
        audio = container.streams.audio
        acodec = audio[0].codec_context.codec.canonical_name if audio and audio[0].codec_context else None
        cc = stream.codec_context
        info = VideoInfo(
            path=self.path, width=w, height=h, fps=fps, frames=frames, duration=duration, rotation=rotation,
            has_audio=bool(audio), codec=cname, time_base=tb, start_pts=int(start), coded_width=cw, coded_height=ch,
            pix_fmt=first.format.name, color_range=int(first.color_range or cc.color_range or 0),
            colorspace=int(first.colorspace or cc.colorspace or 2), color_primaries=int(cc.color_primaries or 2),
            color_trc=int(cc.color_trc or 2), bit_rate=cc.bit_rate or None, audio_codec=acodec, container=fmt,
            frames_exact=exact, sample_aspect_ratio=_sar(stream),
            tags=tuple((str(k), str(v)) for k, v in (container.metadata or {}).items()),
            language=(stream.metadata or {}).get("language"),
        )
        if info.pix_fmt not in _PLANAR:
            log.info("%s: pixel format %s is converted by swscale; re-encoding will not keep its planes bit-exact",
                     self.path, info.pix_fmt)
        return info

    @staticmethod
    def _decode(container: Any, stream: Any) -> Iterator[Any]:
        for packet in container.demux(stream):
            yield from packet.decode()

    def __iter__(self) -> Iterator[VideoFrame]:
        return self._iterate(1)

    def sampled(self, step: int) -> Iterator[VideoFrame]:
        """Every ``step``-th frame (indices 0, step, 2 step, ...), from the start again.

        Every frame is still decoded (the codec needs them) but only the yielded ones are
        converted to RGB (half the cost of a 720p frame); ``decoded`` counts them all.
        """
        return self._iterate(max(1, int(step)))

    def _iterate(self, step: int) -> Iterator[VideoFrame]:
        av = _av()
        info = self.info
        if self._container is None:
            raise InputError(f"{self.path}: the reader is closed; open it again with read_video", param="video")
        self._container.close()
        self._container = av.open(str(self.path))
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self.truncated = False
        self.decoded = 0
        self.times: list[float] = []
        last_pts = None
        self.bad_packets = 0
        for frame in self._frames(stream):
            pts = frame.pts
            if pts is None:
                pts = (last_pts + max(int(frame.duration or 0), 1)) if last_pts is not None else info.start_pts
            last_pts = pts
            self.times.append(float((pts - info.start_pts) * info.time_base))
            if self.decoded % step:
                self.decoded += 1
                continue
            yield self._video_frame(frame, int(pts), self.decoded)
            self.decoded += 1
        if not self.truncated:
            end = float((last_pts - info.start_pts) * info.time_base) if last_pts is not None else 0.0
            if info.frames_exact and info.frames and self.decoded < info.frames - max(2, info.frames // 100):
                self.truncated = True  # the index lists frames whose data is gone
            elif not info.frames_exact and info.duration > 1.0 and end < 0.9 * info.duration - 0.5:
                self.truncated = True  # best guess: stream ended well before the stated duration
            if self.truncated:
                log.warning("%s: only %d frames (to %.2f s) of %s decodable; the file is truncated",
                            self.path, self.decoded, end, info.frames)

    def _video_frame(self, frame: Any, pts: int, index: int) -> VideoFrame:
        """An av frame as a :class:`VideoFrame`: RGB in the file's own colour model, turned
        upright, read-only."""
        info = self.info
        if frame.format.name == info.pix_fmt and info.pix_fmt in _PLANAR:
            rgb = yuv_to_rgb(_plane_views(frame), info.model, _PLANAR[info.pix_fmt][:2])
        else:
            rgb = frame.to_ndarray(format="rgb24")
        k = (-info.rotation // 90) % 4
        if k:
            rgb = np.ascontiguousarray(np.rot90(rgb, k))
        rgb.flags.writeable = False
        return VideoFrame(
            index=index, time=float((pts - info.start_pts) * info.time_base), pixels=rgb, pts=pts,
            time_base=info.time_base, duration=int(frame.duration or 0), rotation=info.rotation, source=frame,
        )

    def frame_at(self, seconds: float) -> VideoFrame:
        """The frame nearest ``seconds`` after the first one, found by seeking to the key
        frame before it and decoding forward (a frame late in a long clip costs about one
        group of pictures, not the whole clip); the last frame for a time past the end.
        ``index`` is estimated from the frame rate. The same pixels as iterating to it.

        Raises:
            InputError: no frame decodes.
        """
        av = _av()
        info = self.info
        if self._container is None:
            raise InputError(f"{self.path}: the reader is closed; open it again with read_video", param="video")
        target = info.start_pts + int(round(max(0.0, float(seconds)) / info.time_base))
        for start in (target, None):  # a failed or overshooting seek: from the start instead
            self._container.close()
            self._container = av.open(str(self.path))
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            if start is not None:
                try:
                    self._container.seek(start, stream=stream, backward=True, any_frame=False)
                except av.error.FFmpegError:
                    continue
            best = first = None
            try:
                for frame in self._decode(self._container, stream):
                    if frame.pts is None:
                        continue
                    first = frame.pts if first is None else first
                    if best is None or abs(frame.pts - target) <= abs(best.pts - target):
                        best = frame
                    if frame.pts > target:
                        break
            except av.error.FFmpegError:
                pass
            # After a seek the decoding must have started at or before the target.
            if best is not None and (start is None or first <= target):
                index = round(float((best.pts - info.start_pts) * info.time_base) * float(info.fps or 0))
                return self._video_frame(best, int(best.pts), index)
        raise InputError(f"{self.path}: no frame near {seconds:g} s decodes", param="video")

    def _frames(self, stream: Any) -> Iterator[Any]:
        """Decoded av frames; a packet that fails to decode is skipped (counted in
        ``bad_packets``), a read error ends the stream (``truncated``)."""
        av = _av()
        packets = self._container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                self.truncated = True
                log.warning("%s: reading stopped after %d frames (%s); the file is truncated or damaged",
                            self.path, self.decoded, _why(exc))
                if self.decoded == 0:
                    raise InputError(f"{self.path}: video cannot be read ({_why(exc)}); the file is corrupt",
                                     param="video") from exc
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                self.bad_packets += 1
                if self.bad_packets == 1:
                    log.warning("%s: damaged data after frame %d skipped (%s)", self.path, self.decoded, _why(exc))
                continue
            yield from frames

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            finally:
                self._container = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def read_video(path: str | os.PathLike) -> VideoReader:
    """Open a video file for streaming; see :class:`VideoReader`.

    Raises:
        InputError: (``param="video"``) missing file, not a media file or corrupt, audio
            only, an image, or nothing decodable.
        MissingDependencyError: PyAV is not installed.
    """
    return VideoReader(path)


def _sar(stream: Any) -> Fraction | None:
    try:
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    except AttributeError:
        return None
    return Fraction(sar) if sar and Fraction(sar) != 1 else None


def _mp4_without_index(path: Path) -> bool:
    """An ISO-BMFF file (``ftyp`` box first) with no ``moov`` box anywhere: truncated."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[4:8] != b"ftyp":
                return False
            fh.seek(0)
            tail = b""
            while chunk := fh.read(1 << 20):
                if b"moov" in tail + chunk:
                    return False
                tail = chunk[-3:]
    except OSError:
        return False
    return True


def _why(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).split(":")[0].strip().rstrip(".") or type(exc).__name__


# ---------------------------------------------------------------------------------------
# writing


def check_video_output_path(out: str | os.PathLike, inputs: list[str | os.PathLike] = ()) -> Path:
    """Validate a video output path before any work: known container, folder exists, not an input.

    The rest as for photos (:func:`mien.io.photo.check_writable`).
    """
    out = Path(out)
    if out.suffix.lower() not in CONTAINERS:
        raise InputError(
            f"{out}: unknown video type {out.suffix or '(none)'}; use one of {', '.join(CONTAINERS)}",
            param="output", allowed=", ".join(CONTAINERS),
        )
    return check_writable(out, inputs, "edited.mp4")


_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
_MUXER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder", "duration"}
_VIDEO_CODECS_HINT = "libx264, libx265, libvpx-vp9, ffv1, mpeg4"


def _create_temp(path: Path) -> Path:
    """An empty hidden file beside ``path`` (same suffix, so the container is recognised).

    Made with the usual permissions (0666 minus the umask), unlike ``mkstemp``'s 0600, so the
    renamed output is readable like any other file the user writes.
    """
    for _ in range(100):
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.part{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise InputError(f"{path.parent}: cannot create a temporary file there", param="output")


class VideoWriter:
    """Encode edited frames of a source video, keeping everything the edit did not touch.

    Args:
        path: output file (.mp4, .mov, .m4v, .mkv, .webm, .avi); never one of the inputs.
        source: the reader (or its info) the frames come from: size, time base, rotation,
            colour and audio are taken from it.
        codec: video encoder (FFmpeg name). Default H.264 (libx264).
        quality: CRF for x264/x265/VP9 (lower is better; 18 is visually transparent).
        preset: x264/x265 speed preset.
        lossless: encode losslessly (x264/x265 qp 0, VP9 lossless; FFV1 always is).
        audio: ``True`` copies the source's audio, ``False`` writes none, a path copies
            that file's first audio stream instead (e.g. a driving clip's).
        protect: further input paths the output must not replace.

    Use as a context manager; :meth:`write` each frame in order (frames may be dropped;
    each keeps its own pts). On a clean exit the file is flushed and renamed into place;
    on an exception (or KeyboardInterrupt) nothing is left behind.

    Attributes (for summaries and tests):
        audio_mode: ``"copy"`` (packets remuxed bit-exactly), ``"encode"`` (re-encoded
            because the container cannot hold the codec; logged) or ``None`` (no audio).
        frames_written: frames encoded so far.
        changed_boxes: frames in which some pixels differed from ``frame.pixels`` (the rest
            were encoded from the source planes untouched).
        last_encoded: the ``av.VideoFrame`` last handed to the encoder (see
            :meth:`handed_pixels`).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        source: VideoReader | VideoInfo,
        *,
        codec: str = "libx264",
        quality: int = DEFAULT_QUALITY,
        preset: str = DEFAULT_PRESET,
        lossless: bool = False,
        audio: bool | str | os.PathLike = True,
        protect: list[str | os.PathLike] = (),
    ) -> None:
        av = _av()
        info = source.info if isinstance(source, VideoReader) else source
        if not isinstance(info, VideoInfo):
            raise InputError("VideoWriter source must be a VideoReader or VideoInfo", param="source")
        self.info = info
        audio_path = None if audio is False else (info.path if audio is True else Path(audio))
        inputs = [info.path, *protect, *([audio_path] if audio_path else [])]
        self.path = check_video_output_path(path, inputs)
        fmt = CONTAINERS[self.path.suffix.lower()]
        try:
            enc = av.codec.Codec(codec, "w")
        except (av.codec.codec.UnknownCodecError, av.error.FFmpegError, ValueError) as exc:
            raise InputError(f"video codec {codec!r} is not available for writing; use one of {_VIDEO_CODECS_HINT}",
                             param="codec", allowed=_VIDEO_CODECS_HINT) from exc
        if enc.type != "video":
            raise InputError(f"{codec!r} is not a video codec; use one of {_VIDEO_CODECS_HINT}", param="codec",
                             allowed=_VIDEO_CODECS_HINT)
        if enc.name in {"libx264", "libx265"} and preset not in _PRESETS:
            raise InputError(f"preset must be one of {', '.join(_PRESETS)}, got {preset!r}", param="preset",
                             allowed=", ".join(_PRESETS))
        top = 63 if enc.name == "libvpx-vp9" else 51
        if not (isinstance(quality, (int, np.integer)) and 0 <= quality <= top):
            raise InputError(f"quality (CRF) must be a whole number from 0 (best) to {top}, got {quality!r}",
                             param="quality", allowed=f"0 to {top}")
        if audio_path is not None and not audio_path.exists():
            raise InputError(f"{audio_path}: audio file does not exist; check the path", param="audio")
        self.codec = enc.name
        self.lossless = lossless
        self.changed_boxes = 0  # frames re-converted in part
        self.frames_written = 0
        self.audio_mode: str | None = None  # "copy", "encode" or None
        self._closed = False
        self._out = None
        self._ain = None
        self._last_pts: int | None = None
        self._last_index = -1
        self.last_encoded = None  # the av.VideoFrame last handed to the encoder
        self._audio_iter = None
        self._audio_next = None
        self._tmp = _create_temp(self.path)
        try:
            # MP4/MOV: index at the front (playable while streaming; a cut copy still decodes)
            options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
            self._out = av.open(str(self._tmp), "w", format=fmt, options=options)
            if enc.canonical_name not in self._out.supported_codecs:
                raise InputError(
                    f"video codec {codec!r} cannot be stored in {self.path.suffix} files; choose another codec or "
                    "container (.mkv holds most)", param="codec", allowed=_VIDEO_CODECS_HINT,
                )
            self._setup_video(av, enc, quality, preset)
            if audio_path is not None:
                self._setup_audio(av, audio_path, fmt, explicit=audio is not True)
        except BaseException:
            self._abort()
            raise

    # -- setup

    def _setup_video(self, av: Any, enc: Any, quality: int, preset: str) -> None:
        info = self.info
        src_fmt = info.pix_fmt
        names = [f.name for f in (enc.video_formats or [])]
        plain = src_fmt.replace("yuvj", "yuv")
        if src_fmt in _PLANAR and plain in names:
            pix_fmt, self._exact = plain, True
        else:
            pix_fmt = "yuv420p" if "yuv420p" in names or not names else names[0]
            self._exact = False
            log.info("%s: %s -> %s re-encoded from RGB (source planes not reusable by %s)", self.path, src_fmt,
                     pix_fmt, self.codec)
        self._pix_fmt = pix_fmt
        self._sub = _PLANAR.get(pix_fmt, (1, 1, False))[:2]
        odd = (info.coded_width % (1 << self._sub[0])) or (info.coded_height % (1 << self._sub[1]))
        if odd and self.codec in {"libx264", "libx265", "mpeg4", "libvpx-vp9", "libsvtav1"}:
            raise InputError(
                f"{info.path}: {info.coded_width}x{info.coded_height} has an odd side, which {self.codec} cannot "
                f"encode in {pix_fmt}; use codec='ffv1' with an .mkv output", param="codec", allowed="ffv1",
            )
        self._model = info.model
        stream = self._out.add_stream(self.codec, rate=info.fps)
        stream.width, stream.height = info.coded_width, info.coded_height
        stream.pix_fmt = pix_fmt
        stream.time_base = info.time_base
        cc = stream.codec_context
        cc.time_base = info.time_base
        full = self._model.full
        cc.color_range = _RANGE_PC if full else (info.color_range or 1)
        for name in ("colorspace", "color_primaries", "color_trc"):
            val = getattr(info, name)
            if val and val != 2:
                setattr(cc, name, val)
        if info.bit_rate and self.codec not in {"libx264", "libx265", "libvpx-vp9", "ffv1"}:
            cc.bit_rate = int(info.bit_rate * 1.5)
        opts: dict[str, str] = {}
        if self.codec == "libx264":
            opts["preset"] = preset
            opts.update({"qp": "0"} if self.lossless else {"crf": str(quality)})
        elif self.codec == "libx265":
            opts["preset"] = preset
            opts["x265-params"] = "log-level=error" + (":lossless=1" if self.lossless else "")
            if not self.lossless:
                opts["crf"] = str(quality)
        elif self.codec == "libvpx-vp9":
            opts.update({"crf": str(quality), "b": "0", "row-mt": "1"})
            if self.lossless:
                opts["lossless"] = "1"
        elif self.lossless and self.codec != "ffv1":
            log.warning("%s cannot be asked for lossless output here; use libx264, libx265, libvpx-vp9 or ffv1",
                        self.codec)
        cc.options = opts
        if info.rotation:
            stream.set_display_rotation(-info.rotation)  # PyAV takes counter-clockwise degrees
        if info.sample_aspect_ratio:
            cc.sample_aspect_ratio = info.sample_aspect_ratio
        if info.language:
            stream.metadata["language"] = info.language
        # container tags kept (the muxer writes its own brand/encoder), plus a provenance note
        tags = {k: v for k, v in info.tags if k not in _MUXER_TAGS}
        tags["comment"] = f"{tags['comment']}; {EDIT_NOTE}" if tags.get("comment") else EDIT_NOTE
        self._out.metadata.update(tags)
        self._vstream = stream

    def _setup_audio(self, av: Any, audio_path: Path, fmt: str, explicit: bool) -> None:
        try:
            ain = av.open(str(audio_path))
        except av.error.FFmpegError as exc:
            raise InputError(f"{audio_path}: cannot read audio ({_why(exc)}); give a media file with sound",
                             param="audio") from exc
        self._ain = ain
        if not ain.streams.audio:
            if explicit:
                raise InputError(f"{audio_path}: has no audio stream; give a file with sound or audio=False",
                                 param="audio")
            ain.close()
            self._ain = None
            return
        astream = ain.streams.audio[0]
        if astream.codec_context is None:
            log.warning("%s: audio codec unknown to FFmpeg; output has no sound", audio_path)
            ain.close()
            self._ain = None
            return
        name = astream.codec_context.codec.canonical_name
        allowed = _AUDIO_COPY.get(fmt)
        can_copy = name in self._out.supported_codecs and (allowed is None or name in allowed)
        if can_copy:
            self._astream = self._out.add_stream_from_template(astream)
            self.audio_mode = "copy"
        else:
            encoder = _AUDIO_ENCODER.get(fmt, "aac")
            rate = astream.codec_context.sample_rate or 48000
            if encoder == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                rate = 48000
            self._astream = self._out.add_stream(encoder, rate=rate)
            try:
                self._astream.layout = astream.codec_context.layout
            except Exception:  # noqa: BLE001
                pass
            self.audio_mode = "encode"
            log.info("%s: audio %s cannot be copied into %s; re-encoded to %s", self.path, name, self.path.suffix,
                     encoder)
        lang = (astream.metadata or {}).get("language")
        if lang:
            self._astream.metadata["language"] = lang
        self._ain_stream = astream
        self._audio_iter = ain.demux(astream)

    # -- audio interleaving

    def _mux_audio_until(self, t: float | None) -> None:
        """Mux source audio packets up to time ``t`` seconds (all if ``None``)."""
        if self._audio_iter is None:
            return
        av = _av()
        while True:
            pkt = self._audio_next
            if pkt is None:
                try:
                    pkt = next(self._audio_iter)
                except StopIteration:
                    self._audio_iter = None
                    break  # falls through to the encoder flush (once: the iterator is gone)
                except av.error.FFmpegError as exc:
                    log.warning("%s: audio stopped early (%s)", self.info.path, _why(exc))
                    self._audio_iter = None
                    break
            late = t is not None and pkt.pts is not None and pkt.time_base is not None
            if late and float(pkt.pts * pkt.time_base) > t:
                self._audio_next = pkt
                return
            self._audio_next = None
            if self.audio_mode == "copy":
                if pkt.size == 0 or pkt.dts is None:
                    continue
                pkt.stream = self._astream
                self._out.mux(pkt)
            else:
                try:
                    decoded = pkt.decode()
                except av.error.FFmpegError:
                    continue
                for af in decoded:
                    af.pts = None
                    for p in self._astream.encode(af):
                        self._out.mux(p)
        if self.audio_mode == "encode":
            for p in self._astream.encode(None):
                self._out.mux(p)

    # -- frames

    def write(self, edited: np.ndarray, frame: VideoFrame,
              region: tuple[int, int, int, int] | None = None) -> None:
        """Encode ``edited`` (``(H, W, 3)`` uint8 RGB, upright, size of ``frame.pixels``) at ``frame``'s time.

        Only pixels that differ from ``frame.pixels`` are converted back to YUV; the rest
        of the frame keeps the source's decoded planes exactly.

        Args:
            region: ``(y0, y1, x0, x1)`` upright pixels: the caller's promise that
                ``edited`` equals ``frame.pixels`` outside this box (an edit knows where it
                worked). Only the box is compared then (a 720p frame's full comparison
                cost ~4 ms); ``None`` compares the whole frame. Pixels outside a wrong
                box are not looked at, so their edits are lost.
        """
        if self._closed:
            raise InputError("the video writer is closed; open a new VideoWriter", param="video")
        edited = np.asarray(edited)
        if edited.dtype != np.uint8 or edited.shape != frame.pixels.shape:
            raise InputError(
                f"edited frame must be {frame.pixels.shape} uint8 RGB like frame.pixels, "
                f"got {edited.shape} {edited.dtype}",
                param="edited",
            )
        pts = frame.pts
        if self._last_pts is not None and pts <= self._last_pts:
            if frame.index <= self._last_index:
                raise InputError(f"frame {frame.index} written out of order (after frame {self._last_index}); "
                                 "write frames in the order they were read", param="frame")
            log.debug("%s: frame %d repeats pts %d; moved to %d", self.path, frame.index, pts, self._last_pts + 1)
            pts = self._last_pts + 1  # a damaged file's duplicate timestamp: keep the frame, keep order
        av = _av()
        k = (self.info.rotation // 90) % 4  # back to stored orientation
        if edited.shape[:2] != (self.info.height, self.info.width):
            raise InputError(f"frame is {edited.shape[1]}x{edited.shape[0]} but the output was opened for "
                             f"{self.info.width}x{self.info.height}; give a source of the same size", param="edited")
        stored_new = np.rot90(edited, k) if k else edited
        stored_old = np.rot90(frame.pixels, k) if k else frame.pixels
        src = frame.source
        if self._exact and src is not None and src.format.name in _PLANAR:
            out = av.VideoFrame(src.width, src.height, self._pix_fmt)
            dst = _plane_views(out)
            for d, s in zip(dst, _plane_views(src)):
                d[...] = s
            box = None if region is None else _stored_box(region, k, edited.shape[:2])
            if self._patch(dst, stored_new, stored_old, box):
                self.changed_boxes += 1
        else:
            out = av.VideoFrame.from_ndarray(np.ascontiguousarray(stored_new), format="rgb24")
            out = out.reformat(format=self._pix_fmt, dst_colorspace=self.info.colorspace if self.info.colorspace != 2
                               else None, dst_color_range=_RANGE_PC if self._model.full else 1)
        out.pts = pts
        out.time_base = frame.time_base
        if frame.duration:
            out.duration = frame.duration
        out.color_range = _RANGE_PC if self._model.full else (self.info.color_range or 1)
        if self.info.colorspace and self.info.colorspace != 2:
            out.colorspace = self.info.colorspace
        self._mux_audio_until(float(pts * frame.time_base) + 0.5)
        try:
            packets = self._vstream.encode(out)
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.codec} could not encode {self.info.coded_width}x{self.info.coded_height} "
                             f"{self._pix_fmt} ({_why(exc)}); try codec='ffv1' with an .mkv output",
                             param="codec") from exc
        for p in packets:
            self._out.mux(p)
        self.last_encoded = out
        self._last_pts = pts
        self._last_index = frame.index
        self.frames_written += 1

    def handed_pixels(self) -> np.ndarray:
        """The last frame handed to the encoder, decoded as the reader would: ``(H, W, 3)``
        uint8 RGB, upright. Compare it with ``frame.pixels`` to check that pixels outside the
        edit reached the encoder unchanged, whatever the (lossy) codec does next."""
        f = self.last_encoded
        if f is None:
            raise InputError("no frame has been written yet", param="frame")
        if f.format.name in _PLANAR:
            rgb = yuv_to_rgb(_plane_views(f), self._model, _PLANAR[f.format.name][:2])
        else:
            rgb = f.to_ndarray(format="rgb24")
        k = (-self.info.rotation // 90) % 4
        return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb

    def _patch(self, planes: list[np.ndarray], new: np.ndarray, old: np.ndarray,
               region: tuple[int, int, int, int] | None = None) -> bool:
        """Convert the changed pixels of ``new`` (vs ``old``, both stored-orientation RGB) into ``planes``.

        ``region`` ``(y0, y1, x0, x1)`` (stored orientation): only there may ``new``
        differ from ``old``; ``None``: anywhere. Returns False (planes untouched) when
        nothing changed.
        """
        h, w = new.shape[:2]
        sx, sy = self._sub
        gx, gy = 1 << sx, 1 << sy
        # Work in the region grown to whole chroma samples (outside it nothing differs).
        ry0, ry1, rx0, rx1 = region if region is not None else (0, h, 0, w)
        ry0, rx0 = max(0, ry0) // gy * gy, max(0, rx0) // gx * gx
        ry1, rx1 = min(h, -(-ry1 // gy) * gy), min(w, -(-rx1 // gx) * gx)
        if ry1 <= ry0 or rx1 <= rx0:
            return False
        new = np.ascontiguousarray(new[ry0:ry1, rx0:rx1])
        old = np.ascontiguousarray(old[ry0:ry1, rx0:rx1])
        h, w = new.shape[:2]
        # 255 where any channel differs (a saturating sum of |new - old|), and its box
        changed = cv2.transform(cv2.absdiff(new, old), _ONES)
        cv2.threshold(changed, 0, 255, cv2.THRESH_BINARY, dst=changed)
        x0, y0, bw, bh = cv2.boundingRect(changed)
        if bw == 0 or bh == 0:
            return False
        # (region-relative; the region starts on whole chroma samples)
        y0, y1 = y0 // gy * gy, min(h, -(-(y0 + bh) // gy) * gy)
        x0, x1 = x0 // gx * gx, min(w, -(-(x0 + bw) // gx) * gx)
        box = new[y0:y1, x0:x1].astype(np.float32)
        changed = changed[y0:y1, x0:x1]
        luma = cv2.transform(box, self._model.from_rgb[:1])
        luma = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
        y0, y1, x0, x1 = y0 + ry0, y1 + ry0, x0 + rx0, x1 + rx0  # frame pixels from here on
        np.copyto(planes[0][y0:y1, x0:x1], luma, where=changed > 0)
        bh, bw = y1 - y0, x1 - x0
        ph, pw = -(-bh // gy), -(-bw // gx)
        if gx > 1 or gy > 1:
            # Each chroma block: the average of its pixels' chroma, which (the conversion
            # being affine) is the chroma of their average colour (edge blocks of odd
            # sizes: the last pixel replicated).
            if ph * gy != bh or pw * gx != bw:
                box = cv2.copyMakeBorder(box, 0, ph * gy - bh, 0, pw * gx - bw, cv2.BORDER_REPLICATE)
                changed = cv2.copyMakeBorder(changed, 0, ph * gy - bh, 0, pw * gx - bw, cv2.BORDER_REPLICATE)
            box = cv2.resize(box, (pw, ph), interpolation=cv2.INTER_AREA)
            cmask = cv2.resize(changed, (pw, ph), interpolation=cv2.INTER_AREA) > 0  # any of 255s: > 0
        else:
            cmask = changed > 0
        uv = cv2.transform(box, self._model.from_rgb[1:])
        uv = np.clip(np.rint(uv), 0, 255).astype(np.uint8)
        cy0, cx0 = y0 >> sy, x0 >> sx
        for i in (1, 2):
            np.copyto(planes[i][cy0:cy0 + ph, cx0:cx0 + pw], uv[..., i - 1], where=cmask)
        return True

    # -- finishing

    def close(self) -> Path:
        """Flush the encoder, mux the rest of the audio and move the file into place."""
        if self._closed:
            return self.path
        try:
            if self.frames_written == 0:
                raise InputError(f"{self.path}: no frames were written; nothing to save", param="video")
            for p in self._vstream.encode(None):
                self._out.mux(p)
            self._mux_audio_until(None)
            self._out.close()
            self._out = None
            self._close_audio()
            os.replace(self._tmp, self.path)
            self._closed = True
        except BaseException:
            self._abort()
            raise
        return self.path

    def _close_audio(self) -> None:
        if self._ain is not None:
            try:
                self._ain.close()
            finally:
                self._ain = None

    def _abort(self) -> None:
        self._closed = True
        try:
            if self._out is not None:
                try:
                    self._out.close()
                except Exception:  # noqa: BLE001 - a half-written file is removed anyway
                    pass
                self._out = None
            self._close_audio()
        finally:
            try:
                self._tmp.unlink()
            except (FileNotFoundError, AttributeError):
                pass

    def abort(self) -> None:
        """Stop without output: remove the temporary file."""
        self._abort()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self._abort()
            except Exception:  # noqa: BLE001
                pass

"""mien.io.video: streaming decode, exact re-encode, timestamps, audio, rotation, colour, errors."""

from __future__ import annotations

import dataclasses
import os
import sys
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from mien.errors import InputError, MissingDependencyError  # noqa: E402
from mien.io import video as V  # noqa: E402
from mien.io.video import VideoFrame, VideoInfo, VideoWriter, read_video  # noqa: E402

DATA = Path(__file__).parent / "data" / "video"
TALKING = DATA / "talking_woman_2s.mp4"  # h264 yuv420p bt601 tv, aac
MAN = DATA / "man_neutral_to_smile.mp4"  # h264 yuv420p unspecified colour, mp3
NO_FACE = DATA / "no_face.mp4"


# ---------------------------------------------------------------------------------------
# helpers


def make_clip(path: Path, pts: list[int], *, size=(64, 48), time_base=Fraction(1, 1000), rotation=0,
              color_range=None, colorspace=None, audio=False, codec="libx264", pix_fmt="yuv420p") -> Path:
    """A synthetic clip: a gradient with a white marker in the top-left corner (stored orientation)."""
    w, h = size
    out = av.open(str(path), "w")
    vs = out.add_stream(codec, rate=25)
    vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
    vs.time_base = time_base
    vs.codec_context.time_base = time_base
    if color_range is not None:
        vs.codec_context.color_range = color_range
    if colorspace is not None:
        vs.codec_context.colorspace = colorspace
        vs.codec_context.color_primaries = colorspace
        vs.codec_context.color_trc = colorspace
    if codec == "libx264":
        vs.codec_context.options = {"preset": "ultrafast", "crf": "10"}
    if rotation:
        vs.set_display_rotation(-rotation)
    if audio:
        aus = out.add_stream("aac", rate=16000)
        aus.layout = "mono"
    yy, xx = np.mgrid[0:h, 0:w]
    for i, p in enumerate(pts):
        img = np.stack([(xx * 4 + i * 3) % 256, (yy * 5) % 256, np.full_like(xx, 90)], -1).astype(np.uint8)
        img[2:10, 2:14] = 255
        f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
        f.pts, f.time_base = p, time_base
        for pkt in vs.encode(f):
            out.mux(pkt)
    for pkt in vs.encode(None):
        out.mux(pkt)
    if audio:
        n = 16000 * (pts[-1] + 40) * time_base
        t = np.arange(int(n)) / 16000
        sig = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for k in range(0, sig.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(sig[:, k:k + 1024]), format="flt", layout="mono")
            af.sample_rate = 16000
            for pkt in aus.encode(af):
                out.mux(pkt)
        for pkt in aus.encode(None):
            out.mux(pkt)
    out.close()
    return path


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def frames_of(path: Path) -> list[VideoFrame]:
    with read_video(path) as r:
        return list(r)


def copy_video(src: Path, dst: Path, edit=None, **kw) -> VideoWriter:
    with read_video(src) as r, VideoWriter(dst, r, **kw) as w:
        for f in r:
            w.write(f.pixels if edit is None else edit(f), f)
    return w


def brighten(f: VideoFrame, box=(101, 153, 211, 266), every=2) -> np.ndarray:
    """Brighten a square (odd-aligned, so the chroma grid matters) on every other frame."""
    if f.index % every:
        return f.pixels
    y0, y1, x0, x1 = box
    e = f.pixels.copy()
    e[y0:y1, x0:x1] = np.clip(e[y0:y1, x0:x1].astype(np.int16) + 40, 0, 255).astype(np.uint8)
    return e


# ---------------------------------------------------------------------------------------
# reading


def test_info_of_committed_clip():
    with read_video(TALKING) as r:
        i = r.info
    assert (i.width, i.height) == (640, 360)
    assert i.fps == Fraction(24000, 1001)
    assert i.frames == 48 and i.frames_exact
    assert i.duration == pytest.approx(2.0, abs=0.05)
    assert i.rotation == 0 and i.has_audio and i.codec == "h264" and i.audio_codec == "aac"
    assert (i.color_range, i.colorspace, i.pix_fmt) == (1, 6, "yuv420p")


def test_frames_stream_upright_rgb_readonly():
    with read_video(MAN) as r:
        it = iter(r)
        assert not isinstance(it, list)
        n = 0
        last = -1.0
        for f in it:
            assert f.pixels.shape == (360, 640, 3) and f.pixels.dtype == np.uint8
            assert f.pixels.flags.c_contiguous and not f.pixels.flags.writeable
            assert f.index == n and f.time > last
            last = f.time
            n += 1
        assert n == r.info.frames == 72 and not r.truncated
        # iterating again decodes from the start
        assert next(iter(r)).index == 0


@pytest.mark.parametrize("gop", [1, 7, 250])
def test_frame_at_seeks_to_the_same_frame_iteration_gives(tmp_path, gop):
    import av

    path = tmp_path / f"gop{gop}.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.gop_size = gop
        for i in range(40):  # each frame a different grey, with a moving bar
            img = np.full((48, 64, 3), 40 + 4 * i, np.uint8)
            img[:, i:i + 4] = 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with read_video(path) as r:
        frames = [(f.time, f.index, f.pixels.copy()) for f in r]
        for t in (0.0, 0.02, 0.51, 0.8, 1.0, frames[-1][0], 99.0):
            got = r.frame_at(t)
            time, index, pixels = min(frames, key=lambda f: (abs(f[0] - t), -f[0]))
            assert got.time == pytest.approx(time) and got.index == index, t
            assert np.array_equal(got.pixels, pixels), t


def test_colour_matrix_matches_ffmpeg_decode():
    """Our conversion (exact BT.601 tv here) agrees with swscale's within its rounding."""
    with read_video(TALKING) as r:
        f = next(iter(r))
    ref = f.source.to_ndarray(format="rgb24")
    d = np.abs(ref.astype(int) - f.pixels)
    assert d.mean() < 2.0 and d.max() <= 8


def test_streaming_memory_is_bounded():
    tracemalloc.start()
    try:
        with read_video(MAN) as r:
            for _ in r:
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 360 * 640 * 3  # a few frames' worth, not 72


# ---------------------------------------------------------------------------------------
# errors


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist") as e:
        read_video(tmp_path / "nope.mp4")
    assert e.value.param == "video"


def test_not_a_media_file(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a video file") as e:
        read_video(p)
    assert "\n" not in str(e.value) and e.value.param == "video"


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".mp4"])
def test_image_given_as_video(tmp_path, suffix):
    """A photo, also one misnamed .mp4: refused as an image."""
    import cv2

    img = cv2.imread(str(Path(__file__).parent / "data" / "lisa" / "lisa1.jpg"))
    p = tmp_path / f"photo{suffix}"
    cv2.imwrite(str(p.with_suffix(".png" if suffix == ".png" else ".jpg")), img)
    if suffix == ".mp4":
        p.write_bytes(p.with_suffix(".jpg").read_bytes())
    with pytest.raises(InputError, match="is an image") as e:
        read_video(p)
    assert "mien edit" in str(e.value)


def test_audio_only_file(tmp_path):
    p = tmp_path / "sound.m4a"
    out = av.open(str(p), "w")
    s = out.add_stream("aac", rate=16000)
    s.layout = "mono"
    af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
    af.sample_rate = 16000
    for pkt in [*s.encode(af), *s.encode(None)]:
        out.mux(pkt)
    out.close()
    with pytest.raises(InputError, match="no video stream"):
        read_video(p)


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.9])
def test_truncated_mp4_with_index_at_end_says_so(tmp_path, keep):
    """Documented: an MP4 cut before its index (moov at the end, as most cameras write) cannot
    be opened: one-line InputError naming the cause."""
    data = TALKING.read_bytes()
    assert data.find(b"moov") > len(data) * 0.9
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError, match="cut short") as e:
        read_video(p)
    assert "\n" not in str(e.value) and e.value.param == "video"


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_truncated_streamable_file_decodes_what_is_there(tmp_path, suffix):
    """Index at the front (our MP4s are written faststart; Matroska): the frames before the
    cut are decoded, then iteration stops with ``truncated`` set or fewer frames than listed."""
    full = tmp_path / f"full{suffix}"
    copy_video(TALKING, full, preset="ultrafast")
    data = full.read_bytes()
    if suffix == ".mp4":
        assert data.find(b"moov") < data.find(b"mdat")
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with read_video(cut) as r:
        n = sum(1 for f in r)
        assert 5 < n < 48
        assert r.truncated


def test_unsupported_codecs_for_writing(tmp_path):
    with read_video(MAN) as r:
        with pytest.raises(InputError, match="not available") as e:
            VideoWriter(tmp_path / "o.mp4", r, codec="no-such-codec")
        assert e.value.param == "codec"
        with pytest.raises(InputError, match="not a video codec"):
            VideoWriter(tmp_path / "o.mp4", r, codec="aac")
        with pytest.raises(InputError, match="cannot be stored"):
            VideoWriter(tmp_path / "o.webm", r, codec="libx264")
        with pytest.raises(InputError, match="unknown video type"):
            VideoWriter(tmp_path / "o.gif", r)
        with pytest.raises(InputError, match="preset must be") as e:
            VideoWriter(tmp_path / "o.mp4", r, preset="quick")
        assert "veryfast" in e.value.allowed
        with pytest.raises(InputError, match="quality"):
            VideoWriter(tmp_path / "o.mp4", r, quality=80)
    assert list(tmp_path.iterdir()) == []  # refused before any file was made


def test_output_equal_to_input_refused(tmp_path):
    src = tmp_path / "clip.mp4"
    src.write_bytes(MAN.read_bytes())
    with read_video(src) as r:
        with pytest.raises(InputError, match="never overwrites an input"):
            VideoWriter(src, r)
        with pytest.raises(InputError, match="never overwrites an input"):
            VideoWriter(tmp_path / "." / "clip.mp4", r.info)
    assert src.read_bytes() == MAN.read_bytes()


def test_missing_pyav_names_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingDependencyError, match=r"mien\[video\]"):
        read_video(MAN)


def test_wrong_edit_shape(tmp_path):
    with read_video(MAN) as r, pytest.raises(InputError, match="edited frame"):
        with VideoWriter(tmp_path / "o.mp4", r) as w:
            f = next(iter(r))
            w.write(f.pixels[:10], f)
    assert not (tmp_path / "o.mp4").exists()


# ---------------------------------------------------------------------------------------
# audio


@pytest.mark.parametrize("src,suffix", [(TALKING, ".mp4"), (MAN, ".mp4"), (MAN, ".mkv"), (NO_FACE, ".mov")])
def test_audio_packets_copied_bit_exactly(tmp_path, src, suffix):
    out = tmp_path / f"o{suffix}"
    w = copy_video(src, out, preset="ultrafast")
    assert w.audio_mode == "copy"
    a, b = audio_packets(src), audio_packets(out)
    assert len(a) > 50 and a == b


def test_audio_timestamps_kept(tmp_path):
    out = tmp_path / "o.mp4"
    copy_video(NO_FACE, out, preset="ultrafast")

    def times(p):
        with av.open(str(p)) as c:
            return [float(k.pts * k.time_base) for k in c.demux(c.streams.audio[0]) if k.size]

    assert times(out) == pytest.approx(times(NO_FACE), abs=1e-6)


def test_audio_reencoded_when_container_cannot_hold_it(tmp_path, caplog):
    src = make_clip(tmp_path / "s.mp4", list(range(0, 400, 40)), audio=True)  # aac
    out = tmp_path / "o.webm"
    with caplog.at_level("INFO", logger="mien.io.video"):
        w = copy_video(src, out, codec="libvpx-vp9")
    assert w.audio_mode == "encode" and "re-encoded to libopus" in caplog.text
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.codec.canonical_name == "opus"
        assert sum(1 for p in c.demux(c.streams.audio[0]) if p.size) > 5


def test_audio_off_and_from_other_file(tmp_path):
    copy_video(TALKING, tmp_path / "none.mp4", audio=False, preset="ultrafast")
    with av.open(str(tmp_path / "none.mp4")) as c:
        assert not c.streams.audio
    copy_video(TALKING, tmp_path / "other.mp4", audio=MAN, preset="ultrafast")
    assert audio_packets(tmp_path / "other.mp4") == audio_packets(MAN)


# ---------------------------------------------------------------------------------------
# timestamps, size, colour, rotation


def test_timestamps_size_fps_colour_kept(tmp_path):
    out = tmp_path / "o.mp4"
    copy_video(TALKING, out, preset="ultrafast")
    a, b = frames_of(TALKING), frames_of(out)
    assert [f.pts for f in a] == [f.pts for f in b]
    assert [f.time for f in a] == [f.time for f in b]
    with read_video(TALKING) as r1, read_video(out) as r2:
        i, o = r1.info, r2.info
    assert (o.width, o.height, o.fps, o.frames, o.time_base) == (i.width, i.height, i.fps, i.frames, i.time_base)
    assert o.duration == pytest.approx(i.duration, abs=1e-3)
    assert (o.color_range, o.colorspace, o.color_primaries, o.color_trc) == (1, 6, 6, 6)


def test_variable_frame_rate_survives(tmp_path):
    pts = [0, 33, 70, 200, 210, 260, 500, 533, 566, 1000, 1010, 1020]
    src = make_clip(tmp_path / "vfr.mp4", pts, time_base=Fraction(1, 1000))
    out = tmp_path / "o.mp4"
    copy_video(src, out)
    times_in = [f.time for f in frames_of(src)]
    times_out = [f.time for f in frames_of(out)]
    assert times_in == pytest.approx([p / 1000 for p in pts])
    assert times_out == pytest.approx(times_in, abs=1e-9)


def test_full_range_bt709_kept(tmp_path):
    src = make_clip(tmp_path / "pc.mp4", list(range(10)), color_range=2, colorspace=1, time_base=Fraction(1, 25))
    out = tmp_path / "o.mkv"
    copy_video(src, out, lossless=True)  # decoded as yuvj420p, written as yuv420p tagged pc
    for a, b in zip(frames_of(src), frames_of(out)):
        assert np.array_equal(a.pixels, b.pixels)
    with read_video(src) as r1, read_video(out) as r2:
        assert (r1.info.color_range, r1.info.colorspace) == (2, 1)
        assert (r2.info.color_range, r2.info.colorspace, r2.info.color_primaries, r2.info.color_trc) == (2, 1, 1, 1)
        assert r2.info.model == r1.info.model and r2.info.model.full


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_upright_pixels_and_metadata_kept(tmp_path, rotation):
    src = make_clip(tmp_path / "rot.mp4", list(range(6)), rotation=rotation, time_base=Fraction(1, 25))
    with read_video(src) as r:
        assert r.info.rotation == rotation
        assert (r.info.coded_width, r.info.coded_height) == (64, 48)
        f = next(iter(r))
    # the marker sits at the stored top-left; a player turns the frame clockwise by `rotation`
    expect = np.rot90(np.arange(4).reshape(2, 2), -rotation // 90)  # where corner 0 lands
    corner = int(np.argwhere(expect == 0)[0] @ [2, 1])
    h, w = f.pixels.shape[:2]
    assert (h, w) == ((64, 48) if rotation in (90, 270) else (48, 64))
    quad = [f.pixels[2:6, 2:6], f.pixels[2:6, -6:-2], f.pixels[-6:-2, 2:6], f.pixels[-6:-2, -6:-2]]
    assert quad[corner].min() > 200
    assert all(q.min() < 200 for i, q in enumerate(quad) if i != corner)
    # edit a corner upright; the file keeps the rotation and the edit lands where drawn
    out = tmp_path / "o.mp4"

    def edit(fr):
        e = fr.pixels.copy()
        e[-8:, -8:] = 0
        return e

    copy_video(src, out, edit=edit, lossless=True)
    with read_video(out) as r2:
        assert r2.info.rotation == rotation and (r2.info.width, r2.info.height) == (w, h)
        g = next(iter(r2))
    assert g.pixels[-6:, -6:].max() < 30
    same = np.ones((h, w), bool)
    same[-10:, -10:] = False
    assert np.array_equal(g.pixels[same], f.pixels[same])


# ---------------------------------------------------------------------------------------
# bit-exactness outside the edit


def test_lossless_output_identical_outside_changed_box(tmp_path):
    out = tmp_path / "o.mp4"
    w = copy_video(TALKING, out, edit=brighten, lossless=True)
    assert w.changed_boxes == 24 and w.frames_written == 48
    a, b = frames_of(TALKING), frames_of(out)
    assert len(a) == len(b) == 48
    y0, y1, x0, x1 = 101, 153, 211, 266
    grown = np.zeros((360, 640), bool)
    grown[y0 // 2 * 2:(y1 + 1) // 2 * 2, x0 // 2 * 2:(x1 + 1) // 2 * 2] = True
    for fa, fb in zip(a, b):
        if fa.index % 2:
            assert np.array_equal(fa.pixels, fb.pixels)  # unchanged frame: every pixel
            continue
        assert np.array_equal(fa.pixels[~grown], fb.pixels[~grown])
        want = brighten(fa)[y0:y1, x0:x1].astype(int)
        got = fb.pixels[y0:y1, x0:x1].astype(int)
        assert np.abs(want - got).mean() < 1.5  # the edit itself survives (4:2:0 chroma aside)
        assert (got.mean() - fa.pixels[y0:y1, x0:x1].mean()) > 30
    # lossless YUV planes: luma outside the box identical too
    ya = _luma(TALKING)
    yb = _luma(out)
    for la, lb in zip(ya, yb):
        la[y0:y1, x0:x1] = lb[y0:y1, x0:x1] = 0
        assert np.array_equal(la, lb)


def _luma(path):
    with av.open(str(path)) as c:
        return [np.array(V._plane_views(f)[0]) for f in c.decode(video=0)]


def test_unchanged_box_round_trip_within_one_level():
    """The inverse conversion matches decoding: YUV -> RGB -> YUV returns the same samples
    wherever decoding did not clip RGB to 0..255 (out-of-gamut YUV cannot come back)."""
    with read_video(TALKING) as r:
        f = next(iter(r))
    model = r.info.model
    planes = [np.array(p) for p in V._plane_views(f.source)]
    yuv = V.rgb_to_yuv(f.pixels, model)
    inside = ~((f.pixels == 0) | (f.pixels == 255)).any(-1)
    assert inside.mean() > 0.9
    dy = np.abs(np.rint(yuv[..., 0]) - planes[0])
    assert dy[inside].max() <= 1 and (dy[inside] == 0).mean() > 0.99
    uv = yuv[..., 1:].reshape(180, 2, 320, 2, 2).mean(axis=(1, 3))
    block_inside = inside.reshape(180, 2, 320, 2).all(axis=(1, 3))
    for i in (0, 1):
        dc = np.abs(np.rint(uv[..., i]) - planes[1 + i])[block_inside]
        assert dc.max() <= 1 and (dc == 0).mean() > 0.95


def test_writer_patches_only_changed_pixels(tmp_path):
    """Frames handed to the encoder: planes equal the source's except the changed chroma blocks."""
    with read_video(TALKING) as r:
        f = next(iter(r))
        w = VideoWriter(tmp_path / "o.mp4", r)
        planes = [np.array(p) for p in V._plane_views(f.source)]
        e = f.pixels.copy()
        e[11, 21] = [255, 0, 0]  # one pixel
        changed = [p.copy() for p in planes]
        assert w._patch(changed, e, f.pixels)
        w.abort()
    dy = np.argwhere(changed[0] != planes[0])
    assert dy.tolist() in ([[11, 21]], [])
    for i in (1, 2):
        d = np.argwhere(changed[i] != planes[i])
        assert set(map(tuple, d.tolist())) <= {(5, 10)}
    assert not (changed[1] == planes[1]).all() or not (changed[2] == planes[2]).all()
    assert not (tmp_path / "o.mp4").exists()


def test_default_encode_of_unedited_clip_is_close(tmp_path):
    out = tmp_path / "o.mp4"
    w = copy_video(TALKING, out)
    assert w.changed_boxes == 0
    for fa, fb in zip(frames_of(TALKING), frames_of(out)):
        mse = np.mean((fa.pixels.astype(float) - fb.pixels) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 38


# ---------------------------------------------------------------------------------------
# atomic output


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "keep")


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_crash_mid_write_leaves_nothing(tmp_path, exc):
    out = tmp_path / "o.mp4"
    with read_video(TALKING) as r:
        with pytest.raises(exc):
            with VideoWriter(out, r) as w:
                for f in r:
                    w.write(f.pixels, f)
                    if f.index == 20:
                        raise exc("boom")
    assert _leftovers(tmp_path) == []


def test_clean_exit_renames_into_place(tmp_path):
    out = tmp_path / "o.mkv"
    copy_video(MAN, out, preset="ultrafast")
    assert _leftovers(tmp_path) == ["o.mkv"]
    with read_video(out) as r:
        assert abs(r.info.frames - 72) <= 1 and sum(1 for _ in r) == 72  # Matroska: estimated from duration


def test_nothing_written_leaves_nothing(tmp_path):
    with read_video(MAN) as r, pytest.raises(InputError, match="no frames"):
        with VideoWriter(tmp_path / "o.mp4", r):
            pass
    assert _leftovers(tmp_path) == []


def test_frames_out_of_order_refused(tmp_path):
    with read_video(MAN) as r:
        it = iter(r)
        f0, f1 = next(it), next(it)
        with pytest.raises(InputError, match="out of order"):
            with VideoWriter(tmp_path / "o.mp4", r) as w:
                w.write(f1.pixels, f1)
                w.write(f0.pixels, f0)
    assert _leftovers(tmp_path) == []


def test_info_is_frozen_and_exported():
    import mien.io as io

    assert io.read_video is read_video and io.VideoWriter is VideoWriter
    with read_video(MAN) as r:
        with pytest.raises(Exception):
            r.info.width = 3  # type: ignore[misc]
        assert isinstance(r.info, VideoInfo)


# ---------------------------------------------------------------------------------------
# other pixel formats and codecs


def test_yuv444_exact_path(tmp_path):
    src = make_clip(tmp_path / "s.mp4", list(range(8)), pix_fmt="yuv444p", time_base=Fraction(1, 25), size=(66, 50))
    out = tmp_path / "o.mkv"

    def edit(f):
        e = f.pixels.copy()
        e[11:20, 31:40] = 255 - e[11:20, 31:40]
        return e

    copy_video(src, out, edit=edit, lossless=True)
    with read_video(out) as r:
        assert r.info.pix_fmt == "yuv444p"
    for a, b in zip(frames_of(src), frames_of(out)):
        keep = np.ones(a.pixels.shape[:2], bool)
        keep[11:20, 31:40] = False  # 4:4:4: no chroma grid to grow to
        assert np.array_equal(a.pixels[keep], b.pixels[keep])
        assert np.abs(edit(a)[~keep].astype(int) - b.pixels[~keep]).max() <= 2


def test_ten_bit_source_falls_back_to_rgb_encode(tmp_path, caplog):
    src = make_clip(tmp_path / "s.mp4", list(range(6)), pix_fmt="yuv420p10le", time_base=Fraction(1, 25))
    out = tmp_path / "o.mp4"
    with caplog.at_level("INFO", logger="mien.io.video"):
        copy_video(src, out)
    assert "not keep its planes" in caplog.text or "re-encoded from RGB" in caplog.text
    with read_video(out) as r:
        assert r.info.pix_fmt == "yuv420p"
    for a, b in zip(frames_of(src), frames_of(out)):
        assert np.abs(a.pixels.astype(int) - b.pixels).mean() < 3


@pytest.mark.parametrize("codec,suffix", [("ffv1", ".mkv"), ("libx265", ".mp4")])
def test_other_lossless_codecs_keep_pixels(tmp_path, codec, suffix):
    out = tmp_path / f"o{suffix}"
    src = make_clip(tmp_path / "s.mp4", list(range(6)), time_base=Fraction(1, 25))
    copy_video(src, out, codec=codec, lossless=True)
    for a, b in zip(frames_of(src), frames_of(out)):
        assert np.array_equal(a.pixels, b.pixels)


def test_output_has_ordinary_permissions(tmp_path):
    out = tmp_path / "o.mp4"
    copy_video(MAN, out, preset="ultrafast")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_damage_in_the_middle_is_skipped_not_fatal(tmp_path):
    data = bytearray(TALKING.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 3000] = bytes(3000)  # zero a stretch of the media data
    p = tmp_path / "damaged.mp4"
    p.write_bytes(bytes(data))
    with read_video(p) as r:
        n = sum(1 for _ in r)
    assert n >= 40  # the decoder conceals or skips the damaged packets; the rest decodes


def test_container_tags_kept_with_provenance_note(tmp_path):
    out = tmp_path / "o.mp4"
    copy_video(NO_FACE, out, preset="ultrafast")
    with read_video(NO_FACE) as r1, read_video(out) as r2:
        t1, t2 = dict(r1.info.tags), dict(r2.info.tags)
    assert t2["creation_time"] == t1["creation_time"]
    assert "mien" in t2["comment"] and "edited" in t2["comment"]
    assert r2.info.language == r1.info.language


def test_odd_size_refused_for_h264_but_ffv1_works(tmp_path):
    src = make_clip(tmp_path / "odd.mkv", list(range(4)), size=(65, 49), codec="ffv1", time_base=Fraction(1, 25))
    with read_video(src) as r, pytest.raises(InputError, match="odd side") as e:
        VideoWriter(tmp_path / "o.mp4", r)
    assert e.value.allowed == "ffv1"
    copy_video(src, tmp_path / "o.mkv", codec="ffv1", edit=lambda f: 255 - f.pixels)
    for a, b in zip(frames_of(src), frames_of(tmp_path / "o.mkv")):
        assert np.abs((255 - a.pixels).astype(int) - b.pixels).mean() < 3
    assert _leftovers(tmp_path) == ["o.mkv", "odd.mkv"]


def test_frames_without_source_planes_are_encoded_from_rgb(tmp_path):
    """Portrait animation: frames made from a photo (no decoded planes) on a clip's timeline."""
    import dataclasses

    with read_video(TALKING) as r:
        info = dataclasses.replace(r.info, width=64, height=48, coded_width=64, coded_height=48, rotation=0,
                                   colorspace=1, color_primaries=1, color_trc=1, color_range=1)
        photo = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
        photo = cv2_blur(photo)
        with VideoWriter(tmp_path / "o.mp4", info, audio=TALKING, lossless=True) as w:
            for f in r:
                w.write(photo, VideoFrame(f.index, f.time, photo, f.pts, f.time_base, f.duration))
    got = frames_of(tmp_path / "o.mp4")
    assert len(got) == 48 and [g.pts for g in got] == [f.pts for f in frames_of(TALKING)]
    assert np.abs(got[0].pixels.astype(int) - photo).mean() < 3
    assert audio_packets(tmp_path / "o.mp4") == audio_packets(TALKING)


def cv2_blur(img):
    import cv2

    return cv2.GaussianBlur(img, (0, 0), 2)


@pytest.mark.parametrize("rotation", [0, 90])
def test_frames_handed_to_encoder_are_exact_outside_the_edit(tmp_path, rotation):
    """Default (lossy) settings: what reaches the encoder equals the decoded input outside
    the changed chroma blocks, bit for bit, in every frame."""
    src = TALKING if rotation == 0 else make_clip(tmp_path / "r.mp4", list(range(6)), rotation=90,
                                                  size=(320, 240), time_base=Fraction(1, 25))
    box = (31, 77, 45, 90)
    with read_video(src) as r, VideoWriter(tmp_path / "o.mp4", r, preset="ultrafast") as w:
        for f in r:
            e = brighten(f, box, every=1)
            w.write(e, f)
            got = w.handed_pixels()
            y0, y1, x0, x1 = box
            keep = np.ones(got.shape[:2], bool)
            keep[y0 - 1:y1 + 1, x0 - 1:x1 + 1] = False
            assert np.array_equal(got[keep], f.pixels[keep])
            assert np.abs(got[~keep].astype(int) - e[~keep]).mean() < 2


@pytest.mark.parametrize("rotation", [0, 90])
def test_region_hint_gives_the_same_frames(tmp_path, rotation):
    """Told where the edit is (an odd-aligned box, a turned clip), the writer hands the
    encoder exactly the frames it makes by comparing whole frames; an empty box or one
    holding nothing changed leaves the source planes."""
    src = TALKING if rotation == 0 else make_clip(tmp_path / "r.mp4", list(range(4)), rotation=90,
                                                  size=(320, 240), time_base=Fraction(1, 25))
    box = (31, 77, 45, 90)
    with read_video(src) as r, VideoWriter(tmp_path / "a.mp4", r, preset="ultrafast") as a, \
            VideoWriter(tmp_path / "b.mp4", r, preset="ultrafast") as b:
        for f in r:
            if f.index >= 4:
                break
            e = brighten(f, box, every=1)
            a.write(e, f)
            b.write(e, f, (box[0] - 3, box[1] + 5, box[2] - 1, box[3] + 2))
            assert np.array_equal(a.handed_pixels(), b.handed_pixels())
            b.write(f.pixels, dataclasses.replace(f, pts=f.pts + 1, index=f.index + 100), (0, 0, 5, 9))
            b.write(f.pixels, dataclasses.replace(f, pts=f.pts + 2, index=f.index + 200), (10, 20, 10, 20))
            assert np.array_equal(b.handed_pixels(), f.pixels)
        assert a.changed_boxes == 4 and b.changed_boxes == 4


def test_sampled_frames_are_every_step_th_and_all_are_counted():
    with read_video(TALKING) as r:
        every = [f.index for f in r]
        got = list(r.sampled(5))
        assert [f.index for f in got] == every[::5] and r.decoded == len(every)
        first = next(iter(r))
    assert np.array_equal(got[0].pixels, first.pixels) and got[1].time > got[0].time


def test_motion_jpeg_video_is_a_video(tmp_path):
    src = make_clip(tmp_path / "mj.mkv", list(range(5)), codec="mjpeg", pix_fmt="yuvj420p", time_base=Fraction(1, 25))
    with read_video(src) as r:
        assert r.info.codec == "mjpeg" and sum(1 for _ in r) == 5


def test_output_path_checks(tmp_path):
    with pytest.raises(InputError, match="folder does not exist"):
        V.check_video_output_path(tmp_path / "nope" / "o.mp4")
    (tmp_path / "d.mp4").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        V.check_video_output_path(tmp_path / "d.mp4")
    assert V.check_video_output_path(tmp_path / "o.MOV") == tmp_path / "o.MOV"


def test_every_decoded_frame_has_its_time_even_when_sampled():
    with read_video(MAN) as r:
        every = [f.time for f in r]
        assert r.times == every
        picked = [f.index for f in r.sampled(5)]
        assert picked == list(range(0, 72, 5)) and r.times == every  # the skipped ones too

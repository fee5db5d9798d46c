"""Speed of video I/O alone: the floor the editing pipeline's throughput is compared to.

For each clip, with mien.io.video's defaults unless --presets says otherwise:

  decode        read_video: demux + decode + YUV->RGB (upright), frames discarded
  re-encode     decode, then VideoWriter.write(frame.pixels, frame) for every frame (no
                edit: the planes are passed through, no RGB->YUV), audio copied, MP4 out
  + edit        as re-encode, with a 160x160 square brightened in every frame (the
                changed-pixel search, the box's RGB->YUV and the paste), to show what the
                writer's exact-plane path costs when something did change

Clips: ../shared/data/video/talking_woman_pexels.mp4 (640x360, 472 frames) and a
synthesised 1280x720 clip (the same frames scaled up, 240 frames, H.264 crf 18, written
to a temp folder first). Reported: frames per second by wall clock and by CPU time of this
process (2 shared cores: x264 and the frame-threaded decoder use both), output size and
PSNR of the unedited re-encode against the decoded input (mean over frames, RGB).

    .venv/bin/python benchmarks/speed_video_io.py [--presets medium,faster,veryfast] [--frames 240]

Edit throughput target for the pipeline: >= 0.5 x the "re-encode" fps of the same clip,
measured in the same run.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from mien.io.video import DEFAULT_PRESET, DEFAULT_QUALITY, VideoWriter, read_video

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
SRC = DATA / "talking_woman_pexels.mp4"


def cpu() -> float:
    """CPU seconds of this process, all threads (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_720p(dst: Path, frames: int) -> Path:
    """The talking clip scaled to 1280x720 (bicubic), H.264 crf 18 medium, source timestamps."""
    with read_video(SRC) as r:
        out = av.open(str(dst), "w")
        vs = out.add_stream("libx264", rate=r.info.fps)
        vs.width, vs.height, vs.pix_fmt = 1280, 720, "yuv420p"
        vs.time_base = vs.codec_context.time_base = r.info.time_base
        vs.codec_context.options = {"crf": "18", "preset": "medium"}
        vs.codec_context.color_range, vs.codec_context.colorspace = 1, 1
        for f in r:
            if f.index >= frames:
                break
            big = cv2.resize(f.pixels, (1280, 720), interpolation=cv2.INTER_CUBIC)
            vf = av.VideoFrame.from_ndarray(big, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=1, dst_color_range=1)
            vf.pts, vf.time_base = f.pts, f.time_base
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        out.close()
    return dst


def run_decode(path: Path) -> tuple[int, float, float]:
    t, c = time.perf_counter(), cpu()
    with read_video(path) as r:
        n = sum(1 for _ in r)
    return n, time.perf_counter() - t, cpu() - c


def run_encode(path: Path, out: Path, preset: str, edit: bool) -> tuple[int, float, float]:
    t, c = time.perf_counter(), cpu()
    n = 0
    with read_video(path) as r, VideoWriter(out, r, preset=preset, quality=DEFAULT_QUALITY) as w:
        h, wd = r.info.height, r.info.width
        y0, x0 = h // 3, wd // 2 - 80
        for f in r:
            px = f.pixels
            if edit:
                px = px.copy()
                px[y0:y0 + 160, x0:x0 + 160] = np.minimum(px[y0:y0 + 160, x0:x0 + 160], 215) + 40
            w.write(px, f)
            n += 1
    return n, time.perf_counter() - t, cpu() - c


def psnr(a: Path, b: Path) -> float:
    vals = []
    with read_video(a) as ra, read_video(b) as rb:
        for fa, fb in zip(ra, rb):
            mse = np.mean((fa.pixels.astype(np.float32) - fb.pixels) ** 2)
            vals.append(10 * np.log10(255**2 / max(float(mse), 1e-6)))
    return float(np.mean(vals))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=f"{DEFAULT_PRESET},faster,veryfast", help="comma-separated x264 presets")
    ap.add_argument("--frames", type=int, default=240, help="frames of the synthesised 720p clip")
    ap.add_argument("--no-edit", action="store_true", help="skip the '+ edit' rows")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not SRC.exists():
        sys.exit(f"{SRC} not found; this benchmark needs ../shared/data")
    presets = list(dict.fromkeys(p.strip() for p in args.presets.split(",") if p.strip()))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip720 = make_720p(tmp / "clip720.mp4", args.frames)
        print(f"default preset {DEFAULT_PRESET}, crf {DEFAULT_QUALITY}; wall fps / CPU-time fps (2 shared cores)")
        print(f"{'clip':<22}{'stage':<22}{'frames':>7}{'wall s':>8}{'fps':>8}{'cpu s':>8}{'fps/cpu':>9}"
              f"{'size KB':>9}{'PSNR dB':>9}")
        for name, path in [("talking 640x360", SRC), ("synth 1280x720", clip720)]:
            run_decode(path)  # warm caches
            n, wall, c = run_decode(path)
            print(f"{name:<22}{'decode':<22}{n:>7}{wall:>8.2f}{n / wall:>8.1f}{c:>8.2f}{n / c:>9.1f}")
            for preset in presets:
                for edit in ([False] if args.no_edit else [False, True]):
                    out = tmp / f"out_{preset}_{edit}.mp4"
                    n, wall, c = run_encode(path, out, preset, edit)
                    stage = f"re-encode {preset}" + (" +edit" if edit else "")
                    size = out.stat().st_size / 1024
                    q = "" if edit else f"{psnr(path, out):>9.2f}"
                    print(f"{name:<22}{stage:<22}{n:>7}{wall:>8.2f}{n / wall:>8.1f}{c:>8.2f}{n / c:>9.1f}"
                          f"{size:>9.0f}{q}")


if __name__ == "__main__":
    main()

"""Speed of one burst transfer on 12-megapixel photos, and of its stages.

Makes a 4000x3000 pose photo and expression photo from a London pair (enlarged so the
face is about 1000 px wide, as in a phone portrait), then times, over several runs after
one warm-up (models loaded once, as for any user of a Session), the wall time and the
CPU time of this process (``time.process_time``: all its threads), each the minimum over
the runs (the machine may be shared: the minimum is the least disturbed run; the median
wall time is printed too). The floor and the transfers take turns, run by run, so that
they see the same load:

  floor           what any tool must do: decode both JPEGs (in parallel, as
                  transfer_files does) and encode the result
  end to end      transfer_files: decode both JPEGs, analyse both (a fresh Session per
                  photo every run), identity check, scene, plan, full-resolution warp
                  and blend, encode the JPEG; and its ratio to the floor (target <= 3x)
  stages          decode, analysis of one photo (Session), identity check, scene,
                  working-resolution plan (fields, masks, light, flow), full-resolution
                  execute, encode

CPU time includes the identity helper process's (mien.identity.start_helper: a second
dlib in its own process, since dlib holds the GIL). The transfer is also timed without
the helper (identity.HELPER = False), in a second pass interleaved with the floor again.

    .venv/bin/python benchmarks/speed_transfer.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import mien
from mien import identity, render
from mien.api import transfer_files
from mien.controls import Burst, Shot
from mien.io import read_photo, write_photo
from mien.session import FaceState, Session

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "london"


def make_12mp(src: Path, dst: Path, shift: int) -> None:
    img = mien.read_photo(src).pixels
    big = cv2.resize(img, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((3000, 4000, 3), 128, np.uint8)
    canvas[:, 500 + shift:3500 + shift] = big
    write_photo(dst, canvas)


@dataclass
class Timing:
    wall: float  # seconds, minimum over the runs
    cpu: float  # seconds of this process's CPU (all threads), minimum over the runs
    median: float  # median wall seconds

    def __str__(self) -> str:
        return f"{self.wall * 1000:7.0f} ms {self.cpu * 1000:7.0f} ms {self.median * 1000:7.0f} ms"


def cpu_time() -> float:
    """CPU seconds of this process and of the identity helper process, if running."""
    total = time.process_time()
    helper = getattr(identity, "_helper", None)
    if helper is not None and helper.proc.poll() is None:
        try:
            fields = Path(f"/proc/{helper.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return total


def timed(fn, runs: int) -> tuple[Timing, object]:
    out, walls, cpus = None, [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), cpu_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_time() - c0)
    return Timing(min(walls), min(cpus), statistics.median(walls)), out


def timed_together(fns, runs: int) -> list[Timing]:
    """Time each of ``fns`` in turn, ``runs`` rounds: each sees the same machine load."""
    times = [[] for _ in fns]
    for _ in range(runs):
        for fn, ts in zip(fns, times):
            ts.append(timed(fn, 1)[0])
    return [Timing(min(t.wall for t in ts), min(t.cpu for t in ts), statistics.median(t.wall for t in ts))
            for ts in times]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pose_path, expr_path, out_path = tmp / "pose.jpg", tmp / "expr.jpg", tmp / "out.jpg"
        make_12mp(DATA / "020" / "neutral.jpg", pose_path, 0)
        make_12mp(DATA / "020" / "happy.jpg", expr_path, 60)

        def end_to_end():
            return transfer_files(pose_path, expr_path, out_path)

        def without_helper():
            identity.HELPER = False
            try:
                return transfer_files(pose_path, expr_path, out_path)
            finally:
                identity.HELPER = True

        end_to_end()  # warm-up: loads MediaPipe and dlib once, starts the helper
        time.sleep(1.0)  # the helper is ready
        pose, expr = read_photo(pose_path), read_photo(expr_path)
        result0 = read_photo(out_path).pixels

        def floor():
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(read_photo, (pose_path, expr_path)))
            write_photo(out_path, result0, like=pose)

        # Interleaved, so that the floor and the transfer see the same machine load; the
        # transfer without the helper in a second pass against its own floor (the floor
        # itself runs slower, ~10 %, when interleaved with both kinds of transfer).
        t_floor, t_total = timed_together([floor, end_to_end], args.runs)
        t_floor2, t_alone = timed_together([floor, without_helper], args.runs)
        t_decode, pose = timed(lambda: read_photo(pose_path), args.runs)
        t_analyse, ps = timed(lambda: Session(pose, name="pose photo"), args.runs)
        es = Session(expr, name="expression photo")
        fp, fe = ps.faces[0].face, es.faces[0].face
        # The session's check on fresh per-face state: plain descriptors, and the mirrored
        # pass only near the threshold (identity.MIRROR_SPREAD).
        t_ident, _ = timed(lambda: FaceState(ps, fp).check_same_person(FaceState(es, fe), "expression photo"),
                           args.runs)
        burst = Burst((Shot(es, "all"),), strength=1.0)
        ps.scene(burst)  # descriptors computed once per FaceState, as in a session
        t_scene, scene = timed(lambda: ps.scene(burst), args.runs)
        t_plan, plan = timed(lambda: render.plan(pose.pixels, scene), args.runs)
        t_exec, result = timed(lambda: render.execute(pose.pixels, plan), args.runs)
        t_encode, _ = timed(lambda: write_photo(out_path, result, like=pose), args.runs)

    print(f"4000x3000 pose and expression photos, face {fp.size:.0f} px wide; "
          f"working grid {plan.grid.size[1]}x{plan.grid.size[0]} over a "
          f"{plan.grid.full_size[1]}x{plan.grid.full_size[0]} crop; {args.runs} runs")
    print(f"{'':39s}{'wall min':>10s}{'CPU min':>11s}{'wall med':>11s}")
    print(f"  floor: decode both JPEGs + encode    {t_floor}")
    print(f"  end to end (transfer_files)          {t_total}   target <= 1500 ms")
    print(f"  end to end / floor                   {t_total.wall / t_floor.wall:7.2f} x  {t_total.cpu / t_floor.cpu:7.2f} x"
          f"  {t_total.median / t_floor.median:7.2f} x   target <= 3x")
    print(f"  floor again (second pass)            {t_floor2}")
    print(f"  end to end without the helper        {t_alone}")
    print(f"  ... / floor again                    {t_alone.wall / t_floor2.wall:7.2f} x  {t_alone.cpu / t_floor2.cpu:7.2f} x"
          f"  {t_alone.median / t_floor2.median:7.2f} x")
    print(f"  decode one JPEG                      {t_decode}")
    print(f"  analyse one photo (new Session)      {t_analyse}")
    print(f"  identity check (fresh faces)         {t_ident}")
    print(f"  scene (descriptors cached)           {t_scene}")
    print(f"  working-resolution plan              {t_plan}   target <= 150 ms")
    print(f"  full-resolution warp + blend + paste {t_exec}")
    print(f"  encode JPEG                          {t_encode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of single-photo edits: a live-preview re-render and a 12-megapixel edit.

  preview     after the photo has been analysed once, re-render a slider change at
              working resolution (mien.control.preview), for smile, blink, aaa (which
              adds a mouth-interior donor) and a head turn. Target: <= 50 ms.
  end to end  edit_files on a 4000x3000 JPEG (face ~1000 px): decode, analysis
              (cache cleared every run), expression, working-resolution plan,
              full-resolution warp and blend, encode. Target: <= 1500 ms.

Median of several runs after one warm-up.

    .venv/bin/python benchmarks/speed_edit.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import mien
from mien import face as face_module
from mien.control import edit_files, preview

sys.path.insert(0, str(Path(__file__).parent))
from speed_transfer import DATA, make_12mp  # noqa: E402


def median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    photo = mien.read_photo(DATA / "063" / "neutral.jpg").pixels
    print(f"preview on a {photo.shape[1]}x{photo.shape[0]} photo (face analysed once), median of {args.runs}:")
    for name, controls in (("smile 0.7", {"smile": 0.7}), ("blink 0.5", {"blink": 0.5}),
                           ("aaa 0.6 (+ donor teeth)", {"aaa": 0.6}), ("yaw 10", {"yaw": 10.0}),
                           ("happy 0.8", {"emotion": "happy", "intensity": 0.8})):
        ms = median_ms(lambda c=controls: preview(photo, **c), args.runs)
        print(f"  {name:<26}{ms:7.1f} ms   target <= 50 ms")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "big.jpg"
        make_12mp(DATA / "063" / "neutral.jpg", src, 0)

        def run():
            face_module._cache.clear()
            edit_files(src, tmp / "out.jpg", emotion="happy", intensity=0.8)

        ms = median_ms(run, max(3, args.runs // 2))
        print(f"12-megapixel edit end to end (happy 0.8)   {ms:7.0f} ms   target <= 1500 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

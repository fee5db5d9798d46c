"""Interpolation between two photos of one person (issue 10, seed 001 Algorithm 2).

Pairs from the London set (odd-indexed people, sorted by folder name): A = the neutral
photo; B = the happy photo moved to another head pose by a 2D similarity (a rotation of
4-8 degrees either way about the face centre and a shift of 3-6 % of the width, seeded),
so the two ends differ in expression AND head position. At t = 0.5 three in-betweens:

  mien       both photos warped to the in-between geometry, residual flow split
             t : 1 - t, blended with confidence masks (stretch x visibility)
  mien-noal  the same without the residual flow (ablation)
  crossfade  0.5 A + 0.5 B (no motion)
  one-sided  A alone warped to the in-between geometry (the same head carry and face
             warp as mien's A side; no texture from B)

Ghosting, on a 256 px crop around each image's own face (A's, B's, the in-between's
geometry), grey, relative to the mean over the two ends (1.0 = as the ends):

  edges   Canny edge-pixel count: double edges (two half-contrast copies) show as excess
          (> 1); a blurred in-between shows as a deficit.
  grad    mean gradient magnitude (Sobel): sharpness; < 1 means detail was lost.

Step evenness along --frames (24) in-betweens from A to B: LIE (seed 003) = coefficient
of variation of the perceptual steps (the LPIPS-style distance of
mien.evaluation.perceptual; not LPIPS) between consecutive frames on a fixed crop
around both faces; 0 is perfectly even. Reported for mien and for the cross-fade.

Writes /tmp/interp/pair_<id>.webp (looping, first --webp pairs), a contact sheet
/tmp/interp/sheet.png (A, t = .25 .5 .75, B, then crossfade and one-sided at 0.5) and
/tmp/interp/frames_<id>.png (every frame of the sequence).

    .venv/bin/python benchmarks/interpolate.py [--count 10] [--lie-count 6] [--frames 24] [--webp 4]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import cv2
import numpy as np

from mien.controls.interpolate import Interpolator, between, write_animation
from mien.evaluation.sheet import contact_sheet, face_box, tile
from mien.io import read_photo, write_photo

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "london"
OUT = Path("/tmp/interp")


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def moved(img: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """``img`` rotated about ``centre`` and shifted (a similarity), edges reflected."""
    h, w = img.shape[:2]
    angle = float(rng.uniform(4, 8) * rng.choice([-1, 1]))
    shift = rng.uniform(0.03, 0.06, 2) * w * rng.choice([-1, 1], 2)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, 1.0)
    m[:, 2] += shift
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return out, f"rot {angle:+.1f} shift {shift[0]:+.0f},{shift[1]:+.0f}"


def crop(img: np.ndarray, box, size: int = 256) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    h, w = img.shape[:2]
    c = img[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
    return cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)


def box_of(points: np.ndarray, margin: float = 0.62) -> tuple[float, float, float, float]:
    """A square crop around ``(478, >=2)`` landmarks (face width times ``margin`` each side)."""
    p = points[:, :2]
    c = (p.min(axis=0) + p.max(axis=0)) / 2
    half = margin * float(np.ptp(p[:, 0]))
    return (c[0] - half, c[1] - half, c[0] + half, c[1] + half)


def edges(img: np.ndarray) -> tuple[float, float]:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    canny = float((cv2.Canny(g, 40, 100) > 0).mean())
    gf = g.astype(np.float32) / 255
    grad = float(np.hypot(cv2.Sobel(gf, cv2.CV_32F, 1, 0), cv2.Sobel(gf, cv2.CV_32F, 0, 1)).mean())
    return canny, grad


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--lie-count", type=int, default=6)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--webp", type=int, default=4)
    ap.add_argument("--seed", type=int, default=10)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    people = sorted(p for p in DATA.iterdir() if (p / "happy.jpg").exists())[1::2][: args.count]
    rng = np.random.default_rng(args.seed)
    dist = None
    if args.lie_count:
        from mien.evaluation.perceptual import FeatureDistance

        dist = FeatureDistance()
    methods = ("mien", "mien-noal", "crossfade", "one-sided")
    ghost = {m: [] for m in methods}
    lies = {"mien": [], "crossfade": []}
    times = []
    sheet_rows, names = [], []
    print(f"{'person':<8}{'move':<26}" + "".join(f"{m + ' edges/grad':>22}" for m in methods) + f"{'LIE mien':>10}{'xfade':>7}")
    for k, person in enumerate(people):
        a = read_photo(person / "neutral.jpg").pixels
        raw_b = read_photo(person / "happy.jpg").pixels
        from mien.detect import analyze

        fb = analyze(raw_b)[0]
        b, what = moved(raw_b, fb.centre, rng)
        w0, c0 = time.perf_counter(), cpu()
        engine = Interpolator(a, b)
        mid = engine(0.5)
        times.append((time.perf_counter() - w0, cpu() - c0))
        engine_noal = Interpolator(engine.sa, engine.sb, force=True, align=False)
        target = between(engine.a, engine.b, 0.5)
        outs = {
            "mien": mid,
            "mien-noal": engine_noal(0.5),
            "crossfade": ((a.astype(np.float32) + b.astype(np.float32)) / 2 + 0.5).astype(np.uint8),
            "one-sided": engine.blend(0.5)[1].execute(a),
        }
        ends = [edges(crop(a, box_of(engine.a.face.landmarks))), edges(crop(b, box_of(engine.b.face.landmarks)))]
        ref = np.mean(ends, axis=0)
        row = f"{person.name:<8}{what:<26}"
        for m in methods:
            e = np.array(edges(crop(outs[m], box_of(target)))) / ref
            ghost[m].append(e)
            row += f"{e[0]:>15.3f}/{e[1]:.3f}"
        frames = None
        if dist is not None and k < args.lie_count or k < args.webp:
            frames = list(engine.frames(args.frames))
        if dist is not None and k < args.lie_count:
            both = np.concatenate([engine.a.face.landmarks, engine.b.face.landmarks])
            fixed = box_of(both, 0.55)
            for m, seq in (("mien", frames),
                           ("crossfade", [((1 - t) * a.astype(np.float32) + t * b.astype(np.float32) + 0.5).astype(np.uint8)
                                          for t in np.linspace(0, 1, args.frames)])):
                crops = [crop(f, fixed) for f in seq]
                d = np.array([dist(x, y) for x, y in zip(crops[:-1], crops[1:])])
                lies[m].append(float(d.std() / max(d.mean(), 1e-9)))
            row += f"{lies['mien'][-1]:>10.3f}{lies['crossfade'][-1]:>7.3f}"
        print(row, flush=True)
        if k < args.webp:
            box = face_box(engine.a.face, 0.9, 1.1, 1.2)
            small = [tile(f, 480, box) for f in frames]
            write_animation(small, OUT / f"pair_{person.name}.webp", fps=12)
            per = 8
            tiles = [tile(f, 160, box) for f in frames]
            write_photo(OUT / f"frames_{person.name}.png",
                        contact_sheet([tiles[i:i + per] for i in range(0, len(tiles), per)]))
            n = len(frames)
            sheet_rows.append([tile(f, 220, box) for f in (a, frames[n // 4], mid, frames[3 * n // 4], b,
                                                          outs["crossfade"], outs["one-sided"], outs["mien-noal"])])
            names.append(f"{person.name} {what}")
    print("\nmedian over", len(people), "pairs (edges = Canny edge pixels, grad = mean gradient; 1.0 = as the ends)")
    for m in methods:
        g = np.array(ghost[m])
        print(f"  {m:<10} edges {np.median(g[:, 0]):.3f} (max {g[:, 0].max():.3f})   grad {np.median(g[:, 1]):.3f}")
    for m, v in lies.items():
        if v:
            print(f"  LIE {m:<10} mean {np.mean(v):.3f}  max {np.max(v):.3f}  over {len(v)} pairs, {args.frames} frames")
    wall, cpu_s = np.median(np.array(times), axis=0)
    print(f"  time per pair (analyse both + identity + one in-between), median: wall {wall:.2f} s, CPU {cpu_s:.2f} s")
    if sheet_rows:
        path = OUT / "sheet.png"
        write_photo(path, contact_sheet(sheet_rows, ["A", "t=.25", "t=.5", "t=.75", "B", "crossfade .5",
                                                     "one-sided .5", "no align .5"], names))
        print(f"wrote {path} and {OUT}/pair_*.webp, frames_*.png")


if __name__ == "__main__":
    main()

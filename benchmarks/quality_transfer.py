"""Burst-transfer quality on triplets with known truth, beside the baselines.

For each person in the London set: P = the neutral photo, registered onto the happy
photo's frame by a similarity on stable landmarks (the head moved between the shots); E = the happy photo seen by a
rotated camera (a homography K R K^-1 of up to 20 degrees yaw), rescaled and shifted,
under different light (exposure, white balance, a shading gradient, applied in linear
light); truth = the real happy photo. Each method makes the happy face in P's frame:

  (a) P unchanged
  (b) the plain landmark-driven piecewise-affine warp of P to the target landmarks
      (ExSHOT's baseline; mien's own mesh warp with no texture and no refinement)
  (c) mien transfer(P, E, regions="all")

and is scored on the truth's face region: PSNR, SSIM, MAE and dlib identity distance.

    .venv/bin/python benchmarks/quality_transfer.py [--count 62] [--out bench-out]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

import mien
from mien import mesh
from mien.api import transfer
from mien.detect import analyze
from mien.evaluation.metrics import score
from mien.evaluation.sheet import contact_sheet, face_box, tile
from mien.expression import align_to
from mien.io import write_photo
from mien.render import render
from mien.scene import Scene

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "london"


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def new_view(img: np.ndarray, rng: np.random.Generator, keep: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The photo from another camera angle, scale and position, under other light.

    ``keep``: ``(N, 2)`` points (the face outline) that must stay well inside the frame.
    """
    for _ in range(50):
        out = _new_view(img, rng)
        if keep is None:
            return out[:2]
        h, w = img.shape[:2]
        moved = cv2.perspectiveTransform(keep[None].astype(np.float64), out[2])[0]
        if (moved.min(0) > 0.05 * np.array([w, h])).all() and (moved.max(0) < 0.95 * np.array([w, h])).all():
            return out[:2]
    return out[:2]


def _new_view(img: np.ndarray, rng: np.random.Generator):
    h, w = img.shape[:2]
    yaw, pitch, roll = rng.uniform(-20, 20), rng.uniform(-8, 8), rng.uniform(-10, 10)
    f = 1.2 * w
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    hom = k @ rotation(yaw, pitch, roll) @ np.linalg.inv(k)
    s = rng.uniform(0.8, 1.1)
    tx, ty = rng.uniform(-0.05, 0.05, 2) * np.array([w, h])
    sim = np.array([[s, 0, (1 - s) * w / 2 + tx], [0, s, (1 - s) * h / 2 + ty], [0, 0, 1]])
    warped = cv2.warpPerspective(img, sim @ hom, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    lin = (warped.astype(np.float32) / 255.0) ** 2.2
    exposure = rng.uniform(0.7, 1.25)
    balance = rng.uniform(0.85, 1.15, 3)
    angle = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.25, 0.45)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((xx - w / 2) * np.cos(angle) + (yy - h / 2) * np.sin(angle)) / max(h, w)
    shade = 1.0 + strength * 2 * ramp
    lin = lin * exposure * balance[None, None] * shade[..., None]
    out = np.clip(lin, 0, 1) ** (1 / 2.2)
    what = f"yaw {yaw:+.0f} pitch {pitch:+.0f} roll {roll:+.0f} scale {s:.2f} exposure {exposure:.2f}"
    return (out * 255 + 0.5).astype(np.uint8), what, sim @ hom


def register(pose: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """P moved onto the truth's frame by a 2D similarity on the stable landmarks.

    The London neutral and happy shots were taken moments apart and the head moved a
    little between them; without this, every method is scored mostly on that shift.
    """
    fp, ft = analyze(pose)[0], analyze(truth)[0]
    idx = list(mesh.STABLE)
    m, _ = cv2.estimateAffinePartial2D(fp.points[idx], ft.points[idx], method=cv2.LMEDS)
    h, w = truth.shape[:2]
    return cv2.warpAffine(pose, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def plain_warp(pose: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """Baseline (b): P's pixels moved to E's landmarks (aligned into P's frame)."""
    fp, fe = analyze(pose)[0], analyze(expression)[0]
    target = align_to(fe.landmarks, fp.landmarks)
    return render(pose, Scene(fp, target))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=62)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    people = sorted(p for p in DATA.iterdir() if (p / "neutral.jpg").exists())[: args.count]
    methods = ("P unchanged", "plain warp", "mien")
    rows, sheet_rows, labels = {m: [] for m in methods}, [], []
    times = []
    for person in people:
        pose = mien.read_photo(person / "neutral.jpg").pixels
        truth = mien.read_photo(person / "happy.jpg").pixels
        truth_faces = analyze(truth)
        if not truth_faces:
            print(f"{person.name}: no face found in the happy photo, skipped", file=sys.stderr)
            continue
        expression, what = new_view(truth, rng, truth_faces[0].points[list(mesh.FACE_OVAL)])
        if not analyze(expression) or not analyze(pose):
            print(f"{person.name}: a face was not found, skipped", file=sys.stderr)
            continue
        pose = register(pose, truth)
        if not analyze(pose):
            print(f"{person.name}: a face was not found, skipped", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        result = transfer(pose, expression, regions="all")
        times.append(time.perf_counter() - t0)
        baseline = plain_warp(pose, expression)
        for name, img in zip(methods, (pose, baseline, result)):
            rows[name].append(score(img, truth, truth_faces[0]))
        if len(sheet_rows) < 10:
            f = truth_faces[0]
            box = face_box(f)
            fe = analyze(expression)[0]
            box_e = face_box(fe)
            sheet_rows.append([tile(pose, 300, box), tile(expression, 300, box_e), tile(truth, 300, box),
                               tile(baseline, 300, box), tile(result, 300, box)])
            labels.append(person.name)
        r = rows["mien"][-1]
        b = rows["plain warp"][-1]
        print(f"{person.name}: {what} | plain warp {b.psnr:.2f} dB | mien {r.psnr:.2f} dB "
              f"id {r.identity:.3f} | {times[-1]:.2f} s", flush=True)

    print(f"\n{len(rows['mien'])} triplets; face-region metrics against the real happy photo (mean, median)")
    print(f"{'method':<14}{'PSNR dB':>16}{'SSIM':>16}{'MAE':>18}{'identity':>16}")
    for name in methods:
        s = rows[name]
        cols = []
        for key in ("psnr", "ssim", "mae", "identity"):
            v = np.array([getattr(x, key) for x in s])
            cols.append(f"{np.nanmean(v):.4f}/{np.nanmedian(v):.4f}")
        print(f"{name:<14}" + "".join(f"{c:>16}" for c in cols))
    wins = {k: np.mean([getattr(m, k) > getattr(b, k) if k in ("psnr", "ssim") else getattr(m, k) < getattr(b, k)
                        for m, b in zip(rows["mien"], rows["plain warp"])]) for k in ("psnr", "ssim", "mae", "identity")}
    print("mien better than plain warp on: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in wins.items()))
    print(f"transfer time per triplet (1350x1350, both photos analysed): median {np.median(times):.2f} s")
    sheet = contact_sheet(sheet_rows, ["P (pose)", "E (expression, moved + relit)", "truth", "plain warp", "mien"],
                          labels)
    path = args.out / "quality_transfer.png"
    write_photo(path, sheet)
    print(f"contact sheet: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build src/mien/data/smile_shading.npz: the smile's expression ratio image.

For each London pair (Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0),
the happy and the neutral photo are both resampled into one canonical texture frame
through their own landmarks, so each texture pixel compares the *same point of skin*
with and without the smile (Liu, Shan & Zhang 2001, "Expressive expression mapping with
ratio images"). The log ratio, with the eyes and the mouth interior left out and the
overall colour change removed, is averaged over people (each pixel shrunk toward 0 by
how much the people disagree there): what remains is the shading a smile brings, cheek highlights and the nasolabial folds. mien multiplies a smiling edit
by exp(amount * log ratio), mapped onto the edited face, where amount is the edit's
"smile" coefficient (1 = the average London smile = happy 0.5).

Only the training people are averaged: the even-indexed London people in sorted order,
as for the expression model (scripts/build_expression_model.py). The odd-indexed people
are the ones the benchmarks score, so no scored person's own smile shading is in it.

    .venv/bin/python scripts/build_shading.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

import mien
from mien import mesh
from mien.detect import analyze
from mien.image import to_float
from mien.shading import TEXTURE_SIZE, texture_landmarks
from mien.warp import Grid, target_mesh

ROOT = Path(__file__).resolve().parents[1]
LONDON = ROOT.parent / "shared" / "data" / "london"
OUT = ROOT / "src" / "mien" / "data" / "smile_shading.npz"


def to_texture(pixels: np.ndarray, landmarks: np.ndarray, tm) -> np.ndarray:
    field = tm.field(landmarks[:, :2])
    out = cv2.remap(pixels, field[..., 0], field[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return to_float(out)


def main() -> int:
    ref = texture_landmarks()
    grid = Grid(0, 0, (TEXTURE_SIZE, TEXTURE_SIZE), (TEXTURE_SIZE, TEXTURE_SIZE))
    tm = target_mesh(ref, grid)
    inside = (tm.ids >= 0) & (tm.ids < len(mesh.canonical()[1]))
    keep = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE), np.float32)
    # Skin only: no eyes, no mouth interior, and fade out near the face outline.
    w = mesh.border_weights().copy()
    for contour in (mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LIPS_INNER):
        w[list(contour)] = 0.0
    keep = tm.attribute(w) * inside
    for contour in (mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LIPS_INNER):
        poly = np.round(ref[list(contour)] * 16).astype(np.int32)
        cv2.fillPoly(keep, [poly], 0.0, shift=4)
    logs, count = [], 0
    training = sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())[0::2]
    names = []
    for person in training:
        n = mien.read_photo(person / "neutral.jpg").pixels
        h = mien.read_photo(person / "happy.jpg").pixels
        fn, fh = analyze(n), analyze(h)
        if len(fn) != 1 or len(fh) != 1:
            continue
        tn = cv2.GaussianBlur(to_texture(n, fn[0].landmarks, tm), (0, 0), 1.2)
        th = cv2.GaussianBlur(to_texture(h, fh[0].landmarks, tm), (0, 0), 1.2)
        lr = np.log(th + 0.02) - np.log(tn + 0.02)
        # Remove the overall colour/exposure change between the two shots.
        lr -= (lr * keep[..., None]).sum(axis=(0, 1)) / keep.sum()
        logs.append(lr)
        names.append(person.name)
        count += 1
    logs = np.array(logs)
    mean = logs.mean(axis=0)
    # Keep what the people agree on: each pixel's mean is shrunk by its signal-to-noise
    # (Wiener weight mean^2 / (mean^2 + standard error^2)), so the blotches one person's
    # light or hair leaves (forehead, hairline) fade while the smile's folds and cheek
    # highlights, which every smile shares, stay.
    se2 = logs.var(axis=0, ddof=1) / len(logs)
    mean = mean * (mean**2 / (mean**2 + se2 + 1e-12)) * keep[..., None]
    mean = cv2.GaussianBlur(mean, (0, 0), 1.0)
    q = np.clip(np.round(mean * 127 / 0.5), -127, 127).astype(np.int8)
    np.savez_compressed(OUT, log_ratio_q=q, scale=np.float32(0.5 / 127), count=np.int32(count),
                        training_people=np.array(names),
                        credit=np.array("Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0"))
    print(f"{count} training pairs; log-ratio range {mean.min():.3f}..{mean.max():.3f}; wrote {OUT} "
          f"({OUT.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build src/mien/data/donors.npz: mouth-interior donors for edits that open a mouth.

Takes London happy photos (Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0)
whose smile shows teeth, crops the lower face, scales it to an inter-ocular distance of
DONOR_IOD pixels and stores the JPEG with its 478 landmarks in crop coordinates.

    .venv/bin/python scripts/build_donors.py [--count 16]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import mien
from mien import mesh
from mien.detect import analyze

ROOT = Path(__file__).resolve().parents[1]
LONDON = ROOT.parent / "shared" / "data" / "london"
OUT = ROOT / "src" / "mien" / "data" / "donors.npz"
DONOR_IOD = 110.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=16)
    args = ap.parse_args()
    found = []
    for person in sorted(p for p in LONDON.iterdir() if (p / "happy.jpg").exists()):
        img = mien.read_photo(person / "happy.jpg").pixels
        faces = analyze(img)
        if len(faces) != 1:
            continue
        f = faces[0]
        opening = np.linalg.norm(f.points[13] - f.points[14]) / f.interocular
        if opening > 0.06:
            found.append((opening, person.name, img, f))
    found.sort(key=lambda x: x[0])
    # Spread the picks over the range of openings.
    picks = [found[i] for i in np.linspace(0, len(found) - 1, min(args.count, len(found))).round().astype(int)]
    blobs, offsets, landmarks, names, openings = [], [0], [], [], []
    weights = mesh.region_weights("mouth")
    for opening, name, img, f in picks:
        s = DONOR_IOD / f.interocular
        pts = f.points[weights > 0]
        x0, y0 = pts.min(axis=0) - 0.15 * f.interocular
        x1, y1 = pts.max(axis=0) + 0.15 * f.interocular
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1) + 1, img.shape[1]), min(int(y1) + 1, img.shape[0])
        crop = img[y0:y1, x0:x1]
        size = (round(crop.shape[1] * s), round(crop.shape[0] * s))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        buf = io.BytesIO()
        Image.fromarray(crop).save(buf, "JPEG", quality=92)
        blobs.append(buf.getvalue())
        offsets.append(offsets[-1] + len(buf.getvalue()))
        lm = f.landmarks.astype(np.float64).copy()
        lm[:, 0] = (lm[:, 0] - x0 + 0.5) * (size[0] / (x1 - x0)) - 0.5
        lm[:, 1] = (lm[:, 1] - y0 + 0.5) * (size[1] / (y1 - y0)) - 0.5
        lm[:, 2] *= s
        landmarks.append(lm.astype(np.float32))
        names.append(f"london-{name}")
        openings.append(opening)
    np.savez_compressed(OUT, jpeg=np.frombuffer(b"".join(blobs), np.uint8), offsets=np.array(offsets),
                        landmarks=np.array(landmarks), names=np.array(names), openings=np.array(openings),
                        credit=np.array("Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0"))
    print(f"{len(names)} donors ({', '.join(names)}); wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

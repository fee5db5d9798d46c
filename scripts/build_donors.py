"""Build src/mien/data/donors.npz: mouth-interior donors for edits that open a mouth.

Takes London happy photos (Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0)
whose smile shows teeth, crops the lips, scales it to an inter-ocular distance of
DONOR_IOD pixels (close to the London photos' own scale, so teeth keep their detail) and
stores the JPEG with its 478 landmarks in crop coordinates, the inner and outer lip
landmarks of the same person's neutral photo (``(40, 2)``, ``mesh.LIPS_INNER`` then
``mesh.LIPS_OUTER``, in that photo's pixels: only their shape is used), and each
donor's eye-white (sclera) and cheek colours in linear light, measured on the full photo
before cropping (the renderer carries the teeth's colour relative to the sclera over to
the edited photo's). Only the even-indexed London people (sorted names ``[0::2]``) are
used: the odd-indexed ones are held out for evaluation (benchmarks/teeth_colour.py,
benchmarks/emotions.py). Donors whose eye whites are not clearly seen are skipped.

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
from mien.sclera import measure

ROOT = Path(__file__).resolve().parents[1]
LONDON = ROOT.parent / "shared" / "data" / "london"
OUT = ROOT / "src" / "mien" / "data" / "donors.npz"
#: Donor scale: inter-ocular distance in pixels. At 110 (before) the teeth of edits on
#: London's own photos (inter-ocular ~300 px) had a third of real teeth's fine detail
#: (std of a sigma-1 high-pass over the teeth: ~1.5-2.5 grey levels against ~5).
DONOR_IOD = 260.0
#: Margin around the outer lips, in inter-ocular distances.
CROP_MARGIN = 0.15
#: JPEG quality of the stored crops.
QUALITY = 90


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=16)
    args = ap.parse_args()
    found = []
    training = sorted(p for p in LONDON.iterdir() if p.is_dir())[0::2]
    for person in training:
        if not (person / "happy.jpg").exists():
            continue
        img = mien.read_photo(person / "happy.jpg").pixels
        faces = analyze(img)
        if len(faces) != 1:
            continue
        f = faces[0]
        opening = np.linalg.norm(f.points[13] - f.points[14]) / f.interocular
        white = measure(img, f)
        if opening > 0.06 and white.confidence >= 0.8:
            # The donor's own neutral lips: a face is given the donor whose neutral mouth
            # looks like its own (mien.donors.choose).
            neutral = analyze(mien.read_photo(person / "neutral.jpg").pixels)
            if len(neutral) != 1:
                continue
            found.append((opening, person.name, img, f, white, neutral[0].landmarks))
    found.sort(key=lambda x: x[0])
    # Spread the picks over the range of openings.
    picks = [found[i] for i in np.linspace(0, len(found) - 1, min(args.count, len(found))).round().astype(int)]
    blobs, offsets, landmarks, names, openings, whites, neutrals = [], [0], [], [], [], [], []
    for opening, name, img, f, white, neutral in picks:
        neutrals.append(neutral[list(mesh.LIPS_INNER) + list(mesh.LIPS_OUTER), :2].astype(np.float32))
        whites.append(white)
        s = DONOR_IOD / f.interocular
        # Only the mouth interior and its feathered edge are ever drawn: the outer lips
        # with a margin are enough (a deeper opening samples below the lower lip, where
        # the renderer draws the dark cavity).
        pts = f.points[list(mesh.LIPS_OUTER)]
        x0, y0 = pts.min(axis=0) - CROP_MARGIN * f.interocular
        x1, y1 = pts.max(axis=0) + CROP_MARGIN * f.interocular
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1) + 1, img.shape[1]), min(int(y1) + 1, img.shape[0])
        crop = img[y0:y1, x0:x1]
        size = (round(crop.shape[1] * s), round(crop.shape[0] * s))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        buf = io.BytesIO()
        Image.fromarray(crop).save(buf, "JPEG", quality=QUALITY)
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
                        landmarks=np.array(landmarks), neutral_lips=np.array(neutrals),
                        names=np.array(names), openings=np.array(openings),
                        sclera=np.array([w.colour for w in whites], np.float32),
                        sclera_confidence=np.array([w.confidence for w in whites], np.float32),
                        skin=np.array([w.skin for w in whites], np.float32),
                        credit=np.array("Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0"))
    print(f"{len(names)} donors ({', '.join(names)}); wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

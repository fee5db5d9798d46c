"""Calibrate each emotion's apex: one amplitude factor per emotion, its AU proportions kept.

Issue 7 defines intensity 1 as the apex of a clear, POSED expression (as in
posed-expression databases), which is strong. scripts/fit_emotions.py fits each emotion's
AU mix near its FACS prototype with small amounts, so at intensity 1 sad, angry and
disgust barely leave neutral (they read only at 1.5 on the contact sheets). This script
does not refit the mix: it keeps each emotion's fitted AU PROPORTIONS (so the mix stays
as near FACS as the fit left it) and chooses a single amplitude factor per emotion,

    mix_at_1 = factor * fitted_mix,   factor in FACTORS (1.0 .. 1.8; --factors may go below 1
                                                     where identity binds, as for disgusted)

on the TRAINING people only (the even-indexed London people, as fit_emotions.py; 600 px),
rendering through Session/Request with the emotion's own plausibility limits
(mien.expression.plausible, applied exactly as emotion_code applies them: the jaw and
lips stay a parted mouth however large the factor). The factor chosen is the one with
the highest training recognition (fer's mini-Xception, mien.evaluation.metrics) among the
factors whose identity change (dlib, input vs edit) stays within a margin of the issue's
limits on the training faces: median <= ID_MEDIAN and worst < ID_WORST (the issue asks
<= 0.30 and < 0.45 on held-out faces); ties go to the smaller factor (the least
exaggeration that reads as well). CAUTION: the same classifier chooses the factor here
and scores the held-out people in benchmarks/emotions.py; a person must still see the
emotion on the contact sheets (benchmarks/sheets.py), and a factor that makes a
caricature is backed off by hand with --cap.

emotions.json keeps the fitted (uncalibrated) mixes under "fitted" and the factors under
"calibration", so the calibration is reproducible and re-running it does not compound:

    .venv/bin/python scripts/calibrate_emotions.py [--faces 16] [--emotions sad,angry] \\
        [--factors 1.0,1.1,...,1.8] [--cap angry=1.4]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_emotions import OUT, TARGETS, training_faces  # noqa: E402

from mien import identity  # noqa: E402
from mien.controls import Request  # noqa: E402
from mien.detect import analyze  # noqa: E402
from mien.evaluation.metrics import EmotionClassifier  # noqa: E402
from mien import expression  # noqa: E402

#: Amplitude factors tried (the fitted mix is factor 1).
FACTORS = tuple(round(1.0 + 0.1 * k, 1) for k in range(9))
#: Identity limits on the training faces: the issue's held-out limits (median <= 0.30,
#: worst < 0.45) less a margin for faces the calibration did not see.
ID_MEDIAN, ID_WORST = 0.28, 0.43


def scaled(mix: dict[str, float], factor: float) -> dict[str, float]:
    """``mix`` times ``factor``, rounded to 0.01 (what emotions.json stores)."""
    return {k: round(v * factor, 2) for k, v in mix.items()}


def measure(emotion: str, mix: dict[str, float], label: str, sessions, clf) -> dict:
    """Recognition rate, mean p(label), identity median and worst of ``emotion`` at
    intensity 1 with AU ``mix`` over ``sessions``, rendered as the shipped emotion is
    (``emotion=`` through :func:`mien.expression.emotion_code`, which keeps every amount
    plausible)."""
    expression.EMOTIONS[emotion] = dict(mix)
    request = Request.from_controls(emotion=emotion, intensity=1.0)
    hits, probs, ids = 0, [], []
    for session in sessions:
        out = session.render(request)
        faces = analyze(out)
        if not faces:
            probs.append(0.0)
            ids.append(1.0)
            continue
        p = clf.probabilities(out, faces[0])
        hits += max(p, key=p.get) == label
        probs.append(p[label])
        ids.append(identity.descriptor_distance(identity.descriptor(out, faces[0]), session.faces[0].descriptor))
    ids = np.array(ids)
    return {"rate": hits / len(sessions), "p": float(np.mean(probs)), "id_median": float(np.median(ids)),
            "id_worst": float(ids.max())}


def choose(results: dict[float, dict]) -> float:
    """The factor with the highest recognition among those within the identity limits
    (ties: the smaller factor); 1.0 (the fit unchanged) if none is within them: then
    more amplitude would only cost more identity, and the mix itself must change."""
    ok = [f for f, r in results.items() if r["id_median"] <= ID_MEDIAN and r["id_worst"] < ID_WORST]
    if not ok:
        return 1.0
    return min(ok, key=lambda f: (-round(results[f]["rate"], 6), f))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=16)
    ap.add_argument("--emotions", default=",".join(TARGETS), help="comma-separated emotions to calibrate")
    ap.add_argument("--factors", default=",".join(map(str, FACTORS)))
    ap.add_argument("--cap", action="append", default=[],
                    help="EMOTION=F: use at most factor F for EMOTION (backing off a caricature seen on the sheets)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--dry-run", action="store_true", help="measure and print, write nothing")
    args = ap.parse_args()
    caps = {k: float(v) for k, v in (c.split("=") for c in args.cap)}
    factors = [float(f) for f in args.factors.split(",")]
    data = json.loads(args.out.read_text())
    fitted = data.setdefault("fitted", {k: v for k, v in data["emotions"].items() if k in TARGETS})
    calibration = data.setdefault("calibration", {})
    names, sessions = training_faces(args.faces)
    clf = EmotionClassifier()
    for emotion in args.emotions.split(","):
        label = TARGETS[emotion][0]
        t0 = time.process_time()
        results = {}
        for f in factors:
            if f > caps.get(emotion, np.inf) + 1e-9:
                continue
            results[f] = r = measure(emotion, scaled(fitted[emotion], f), label, sessions, clf)
            print(f"  {emotion} x{f:.1f}: recognised {100 * r['rate']:.0f}% (p {r['p']:.2f}), identity "
                  f"{r['id_median']:.3f}/{r['id_worst']:.3f}", flush=True)
        f = choose(results)
        r = results[f]
        print(f"{emotion:<10} factor {f:.1f}: {scaled(fitted[emotion], f)} recognised {100 * r['rate']:.0f}%, "
              f"identity {r['id_median']:.3f}/{r['id_worst']:.3f} on {len(sessions)} training faces "
              f"({time.process_time() - t0:.0f} s CPU)", flush=True)
        if args.dry_run:
            continue
        calibration[emotion] = {"factor": f, "training_rate": round(r["rate"], 3),
                                "training_identity": [round(r["id_median"], 3), round(r["id_worst"], 3)],
                                "within_identity_limits": bool(r["id_median"] <= ID_MEDIAN and r["id_worst"] < ID_WORST)}
        data["emotions"][emotion] = scaled(fitted[emotion], f)
        data["calibration_about"] = (
            "scripts/calibrate_emotions.py: emotions[e] = factor * fitted[e] (AU proportions of the fit kept), "
            f"factor in {factors} chosen for the highest training recognition with training identity median <= "
            f"{ID_MEDIAN} and worst < {ID_WORST} (issue 7: intensity 1 is a posed apex); caps {caps or 'none'}.")
        args.out.write_text(json.dumps(data, indent=2) + "\n")
    if not args.dry_run:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

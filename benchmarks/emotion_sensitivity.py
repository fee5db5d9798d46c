"""Which motions move the emotion classifier, and what each costs in identity.

An investigation tool for issue 7 (emotions that read), on TRAINING faces only (the
even-indexed London people, as scripts/fit_emotions.py; nothing here sees a held-out
person). Three measurements, each rendered through Session/Request as mien renders:

  slopes     For each code direction (every Action Unit of the prior, the smile, gaze
             down) and each base (neutral, and every fitted emotion at intensity
             1), the change of every class probability of the classifier (fer's
             mini-Xception, mien.evaluation.metrics.EmotionClassifier) and of the dlib
             identity distance (input vs edit) per unit of the direction, from one step
             of --step (finite difference; AUs already in a base are also stepped down).
             Ranked per emotion by gain in p(emotion) per unit of identity cost.
  regions    For each emotion at intensity 1, the edit composited back into the input
             one face band at a time (brows/forehead, eyes, nose/cheeks, mouth/chin,
             bands across the face's own down direction, feathered): which band carries
             the classifier's reading and which the identity change.
  creases    p(emotion) and identity with mien.creases.DEPTH at 0, 1 and 2.5.

CAUTION: the same classifier fits the shipped mixes (scripts/fit_emotions.py); these
slopes say what moves this classifier, not what people see.

    .venv/bin/python benchmarks/emotion_sensitivity.py [--faces 8] [--step 0.5] \\
        [--parts slopes,regions,creases] [--out bench-out/sensitivity]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from fit_emotions import TARGETS, training_faces  # noqa: E402

from mien import creases, identity  # noqa: E402
from mien.controls import Request  # noqa: E402
from mien.detect import analyze  # noqa: E402
from mien.evaluation.metrics import EmotionClassifier  # noqa: E402
from mien import expression  # noqa: E402
from mien.expression import EMOTIONS  # noqa: E402
from mien.retarget import face_down  # noqa: E402

#: Code directions stepped (gaze_y is stepped DOWN: a negative amount).
DIRECTIONS = ("1", "2", "4", "5", "6", "7", "9", "10", "11", "12", "14", "15", "17", "20", "23", "24",
              "25", "26", "28", "43", "smile", "gaze_y")
#: Directions that are sliders, not Action Units (Request takes them by name).
SLIDER_DIRECTIONS = ("smile", "gaze_y")
SIGN = {"gaze_y": -1.0}
LABELS = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
#: The emotion slot :func:`request` borrows (restored by main).
PROBE = "contempt"
BANDS = ("brows", "eyes", "nose", "mouth")


def score(out: np.ndarray, session, clf) -> tuple[dict[str, float], float]:
    """Class probabilities and identity distance of an edit (``out``, RGB uint8) of
    ``session``'s photo; ``({}, nan)`` when no face is found."""
    faces = analyze(out)
    if not faces:
        return {}, float("nan")
    p = clf.probabilities(out, faces[0])
    d = identity.descriptor_distance(identity.descriptor(out, faces[0]), session.faces[0].descriptor)
    return p, d


def request(code: dict) -> Request:
    """A request rendering ``code`` (Action Units and :data:`SLIDER_DIRECTIONS`, any
    amount) as an emotion at intensity 1 is rendered: through the ``contempt`` slot of
    :data:`mien.expression.EMOTIONS`, so amounts are kept plausible as ``emotion=`` keeps
    them (``au=`` refuses amounts beyond 1.5 and names that are not Action Units)."""
    expression.EMOTIONS[PROBE] = dict(code)
    return Request.from_controls(emotion=PROBE, intensity=1.0)


def band_masks(session) -> dict[str, np.ndarray]:
    """``(H, W)`` ``float32`` feathered masks of the face bands of :data:`BANDS`, cut
    across the face's down direction at midpoints between brows, eyes, nose tip and
    mouth (landmarks of the input photo)."""
    f = session.faces[0].face
    p = f.points[:, :2].astype(np.float64)
    down = face_down(f.points)
    h, w = session.pixels.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    origin = (p[33] + p[263]) / 2
    t = (xx - origin[0]) * down[0] + (yy - origin[1]) * down[1]
    level = lambda idx: float(np.mean((p[list(idx)] - origin) @ down))  # noqa: E731
    brow, eye, nose, mouth = level((105, 334, 66, 296)), 0.0, level((1,)), level((13, 14))
    cuts = [(brow + eye) / 2, (eye + nose) / 2, (nose + mouth) / 2]
    soft = 0.04 * f.interocular
    step = lambda c: 1 / (1 + np.exp(-(t - c) / soft))  # noqa: E731
    s = [step(c) for c in cuts]
    return {"brows": (1 - s[0]).astype(np.float32), "eyes": (s[0] - s[1]).astype(np.float32),
            "nose": (s[1] - s[2]).astype(np.float32), "mouth": s[2].astype(np.float32)}


def slopes(sessions, clf, step: float, emotions) -> dict:
    """``{base: {direction: {"dp": {label: slope}, "did": slope}}}`` (per unit amount)."""
    out = {}
    bases = {"neutral": {}} | {e: dict(EMOTIONS[e]) for e in emotions}  # copies: request() borrows a slot
    for base, mix in bases.items():
        t0 = time.process_time()
        ref = [score(s.render(request(mix)), s, clf) for s in sessions] if mix else \
            [({k: v for k, v in zip(LABELS, _neutral_probs(s, clf))}, 0.0) for s in sessions]
        res = {}
        for d in DIRECTIONS:
            for sign in (1.0, -1.0):
                amount = mix.get(d, 0.0) + sign * SIGN.get(d, 1.0) * step
                if sign < 0 and (d not in mix or mix[d] <= 0):
                    continue
                if d in mix and sign < 0:
                    amount = max(0.0, amount)
                trial = dict(mix, **{d: amount})
                dps = {k: [] for k in LABELS}
                dids = []
                for s, (p0, i0) in zip(sessions, ref):
                    p, i = score(s.render(request(trial)), s, clf)
                    if not p or not p0:
                        continue
                    du = amount - mix.get(d, 0.0)
                    for k in LABELS:
                        dps[k].append((p[k] - p0[k]) / du)
                    dids.append((i - i0) / du)
                key = d if sign > 0 else f"-{d}"
                res[key] = {"dp": {k: float(np.mean(v)) for k, v in dps.items()}, "did": float(np.mean(dids))}
        out[base] = res
        print(f"  slopes from {base}: {time.process_time() - t0:.0f} s CPU", flush=True)
    return out


def _neutral_probs(session, clf):
    p = clf.probabilities(session.pixels, session.faces[0].face)
    return [p[k] for k in LABELS]


def regions(sessions, clf, emotions) -> dict:
    """``{emotion: {band: {"p": mean p(emotion), "rate", "id": median identity}}}``, and
    ``"all"`` for the whole edit."""
    out = {}
    for e in emotions:
        label = TARGETS[e][0]
        rows = {b: {"p": [], "hit": [], "id": []} for b in ("all", *BANDS)}
        for s in sessions:
            edit = s.render(Request.from_controls(emotion=e, intensity=1.0))
            masks = band_masks(s)
            src = s.pixels.astype(np.float32)
            for b in rows:
                img = edit if b == "all" else np.clip(
                    src + masks[b][..., None] * (edit.astype(np.float32) - src), 0, 255).round().astype(np.uint8)
                p, i = score(img, s, clf)
                if not p:
                    continue
                rows[b]["p"].append(p[label])
                rows[b]["hit"].append(max(p, key=p.get) == label)
                rows[b]["id"].append(i)
        out[e] = {b: {"p": float(np.mean(v["p"])), "rate": float(np.mean(v["hit"])),
                      "id": float(np.median(v["id"]))} for b, v in rows.items()}
    return out


def crease_depths(sessions, clf, emotions, depths=(0.0, 1.0, 2.5)) -> dict:
    out = {}
    keep = creases.DEPTH
    try:
        for e in emotions:
            label = TARGETS[e][0]
            out[e] = {}
            for depth in depths:
                creases.DEPTH = depth
                ps, hits, ids = [], [], []
                for s in sessions:
                    s.faces[0].folds._maps.clear()  # fold maps are drawn at DEPTH and kept
                    s_out = s.render(Request.from_controls(emotion=e, intensity=1.0))
                    p, i = score(s_out, s, clf)
                    if p:
                        ps.append(p[label])
                        hits.append(max(p, key=p.get) == label)
                        ids.append(i)
                out[e][str(depth)] = {"p": float(np.mean(ps)), "rate": float(np.mean(hits)),
                                      "id": float(np.median(ids))}
    finally:
        creases.DEPTH = keep
        for s in sessions:
            s.faces[0].folds._maps.clear()
    return out


def fer_crops(sessions, clf, emotions, path: Path) -> None:
    """One PNG of what the classifier sees (its 64x64 grey crop, shown x3): rows faces,
    columns neutral and each emotion at intensity 1."""
    rows = []
    for s in sessions[:4]:
        tiles = []
        for e in ("neutral", *emotions):
            img = s.pixels if e == "neutral" else s.render(Request.from_controls(emotion=e, intensity=1.0))
            f = analyze(img)[0]
            pts = f.points
            x0, y0 = pts[:, :2].min(axis=0)
            x1, y1 = pts[:, :2].max(axis=0)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * (y1 - y0)
            half = 0.65 * max(x1 - x0, y1 - y0)
            grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
            m = np.array([[64 / (2 * half), 0, -(cx - half) * 64 / (2 * half)],
                          [0, 64 / (2 * half), -(cy - half) * 64 / (2 * half)]])
            crop = cv2.warpAffine(grey, m, (64, 64), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
            tiles.append(cv2.resize(crop, (192, 192), interpolation=cv2.INTER_NEAREST))
        rows.append(np.hstack(tiles))
    cv2.imwrite(str(path), np.vstack(rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=8)
    ap.add_argument("--step", type=float, default=0.5)
    ap.add_argument("--emotions", default="sad,angry,surprised,disgusted,fearful")
    ap.add_argument("--parts", default="slopes,regions,creases")
    ap.add_argument("--out", type=Path, default=Path("bench-out/sensitivity"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    emotions = args.emotions.split(",")
    names, sessions = training_faces(args.faces)
    clf = EmotionClassifier()
    print(f"{len(sessions)} training faces: {' '.join(names)}")
    t0, c0 = time.time(), time.process_time()
    result = {}
    keep_probe = dict(EMOTIONS[PROBE])
    parts = args.parts.split(",")
    if "regions" in parts:
        result["regions"] = r = regions(sessions, clf, emotions)
        print("\nregions: p(emotion) / recognised / identity median, the edit kept only in one band")
        print(f"{'emotion':<11}" + "".join(f"{b:>20}" for b in ("all", *BANDS)))
        for e, row in r.items():
            print(f"{e:<11}" + "".join(f"{v['p']:>8.2f}{100 * v['rate']:>5.0f}%{v['id']:>6.3f}" for v in row.values()))
        fer_crops(sessions, clf, emotions, args.out / "fer_crops.png")
    if "creases" in parts:
        result["creases"] = c = crease_depths(sessions, clf, emotions)
        print("\ncreases: p(emotion) / recognised / identity median at crease depth 0, 1, 2.5")
        for e, row in c.items():
            print(f"{e:<11}" + "".join(f"  d{k}: {v['p']:.2f} {100 * v['rate']:.0f}% {v['id']:.3f}" for k, v in row.items()))
    if "slopes" in parts:
        result["slopes"] = sl = slopes(sessions, clf, args.step, emotions)
        for base, res in sl.items():
            targets = emotions if base == "neutral" else [base]
            for e in targets:
                label = TARGETS[e][0]
                ranked = sorted(res.items(), key=lambda kv: -kv[1]["dp"][label] / max(kv[1]["did"], 0.02))
                print(f"\nfrom {base}, for {e}: direction  dp({label})/unit  dID/unit  gain per identity "
                      f"(identity cost floored at 0.02)")
                for d, v in ranked[:10]:
                    print(f"  {d:>7} {v['dp'][label]:+8.3f} {v['did']:+8.3f} {v['dp'][label] / max(v['did'], 0.02):+8.2f}"
                          f"   (neutral {v['dp']['neutral']:+.3f}, sad {v['dp']['sad']:+.3f}, angry {v['dp']['angry']:+.3f})")
    expression.EMOTIONS[PROBE] = keep_probe
    (args.out / "sensitivity.json").write_text(json.dumps(result, indent=1))
    print(f"\n{time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU; {args.out}/sensitivity.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Best Take on synthetic group bursts made from real London photos.

Each group is 3 to 5 London people side by side (each on a ``--side`` px square tile),
photographed in ``--shots`` shots (3 or 4, at random). In every shot each person is, at
random:

  ok        their real happy photo (smiling, eyes open, looking at the camera)
  blink     the happy photo with mien's own blink edit (``blink=1``)
  nosmile   their real neutral photo (eyes open, no smile)
  away      the happy photo with mien's gaze edit (``gaze_x=+-1``, the strongest mien has:
            the eyes turn ~6 degrees; the head stays)

Every person is "ok" in at least one shot and looks away in at most one. A face is
*right* when its eyes in the result come from a shot where they were open and looking at
the camera (ok, nosmile) and its mouth from a shot where it smiled (ok, blink, away):
``single`` also counts how often the whole face came from one "ok" shot. Then:

- every output face's eyes open: the result re-analysed, each eye's lid gap at least 0.7
  of the person's widest across the shots; smile read on the result at least half the
  person's broadest;
- bit-identity: no pixel changes outside 1.5x the extent of the replaced faces, and the
  kept faces are bit-identical;
- time per group (wall and CPU of :func:`mien.controls.best_take.best_take`, shots
  analysed inside it).

Writes ``--out``/sheet.png (one row per group: the shots, then the result) and one
``--explain`` overlay per group. Photos: Face Research Lab London Set, DeBruine & Jones
(2017), CC BY 4.0, doi:10.6084/m9.figshare.5047666.v5.

    .venv/bin/python benchmarks/best_take.py [--groups 12] [--side 600] [--seed 0] [--out /tmp/best-take]

Measured (2-core CPU, --groups 20 --side 600; 3-5 people, 3-4 shots per group):

  seed 0  right 79/79 (100 %), eyes open 79/79, smiling 79/79, nothing changed outside
          replaced faces; 1.1 s wall / 1.0 s CPU median per group (max 1.5 s). The
          scoring's last two changes (smile step, camera-ahead vote) came from this seed.
  seed 1  right 76/78 (97.4 %; both misses: a gaze edit that moved the eyes only ~4 degrees,
          with two open-eyed shots), eyes open 76/76, smiling 76/76, identity 0 changes.

Those two runs were made when the detector missed 7 (seed 0) and 9 (seed 1) faces in the
3000 px wide five-person shots (it looked only at a 1024 px copy, where a face is ~70 px).
Wide photos and photos with small faces are now also searched in overlapping tiles
(mien.detect._detect_in_tiles): seed 1 again, 2026-11-23, other work sharing the CPU:
missed 0; right 77/79 (97.5 %), eyes open 79/79, smiling 79/79, nothing changed outside;
1.2 s wall / 1.4 s CPU median per group (max 2.1 s), peak RSS 952 MB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np

import mien
from mien.controls.best_take import best_take, explain
from mien.evaluation.sheet import contact_sheet, tile
from mien.session import Session

EYES_GOOD = {"ok", "nosmile"}
MOUTH_GOOD = {"ok", "blink", "away"}
DEFECTS = ("blink", "nosmile", "away")


def openness(face) -> np.ndarray:
    p = face.points
    iod = np.linalg.norm(p[33] - p[263])
    return np.array([np.linalg.norm(p[159] - p[145]), np.linalg.norm(p[386] - p[374])]) / iod


class Looks:
    """Each person's tiles, made once: real photos and mien edits of them."""

    def __init__(self, root: Path, side: int):
        self.root, self.side, self.cache = root, side, {}

    def get(self, person: str, kind: str) -> np.ndarray:
        key = (person, kind)
        if key not in self.cache:
            if kind in ("ok", "nosmile"):
                photo = mien.read_photo(self.root / person / ("happy.jpg" if kind == "ok" else "neutral.jpg")).pixels
                self.cache[key] = cv2.resize(photo, (self.side, self.side), interpolation=cv2.INTER_AREA)
            elif kind == "blink":
                self.cache[key] = mien.edit(self.get(person, "ok"), blink=1)
            else:  # away+ / away-
                self.cache[key] = mien.edit(self.get(person, "ok"), gaze_x=1.0 if kind.endswith("+") else -1.0)
        return self.cache[key]


def _label(t: np.ndarray, text: str) -> None:
    """Dark text with a white outline along the tile's bottom edge."""
    org = (4, t.shape[0] - 8)
    cv2.putText(t, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 3, cv2.LINE_AA)
    cv2.putText(t, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def make_group(rng, people, n_shots):
    """``kinds[s][p]``: each person's state per shot."""
    kinds = [[None] * len(people) for _ in range(n_shots)]
    for p in range(len(people)):
        ok = rng.integers(n_shots)
        away_used = False
        for s in range(n_shots):
            if s == ok or rng.random() < 0.3:
                kinds[s][p] = "ok"
                continue
            choices = [d for d in DEFECTS if not (d == "away" and away_used)]
            k = choices[rng.integers(len(choices))]
            away_used |= k == "away"
            kinds[s][p] = k
    return kinds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/london")
    ap.add_argument("--groups", type=int, default=12)
    ap.add_argument("--side", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/best-take"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    everyone = sorted(p.name for p in args.data.iterdir() if (p / "happy.jpg").exists())
    looks = Looks(args.data, args.side)

    faces = right = single = eyes_open = smiling = missed = result_faces = 0
    outside_bad = kept_bad = 0
    walls, cpus = [], []
    rows, row_labels = [], []
    failures = []
    for g in range(args.groups):
        n = int(rng.integers(3, 6))
        people = [everyone[i] for i in rng.choice(len(everyone), n, replace=False)]
        n_shots = int(rng.integers(3, 5))
        kinds = make_group(rng, people, n_shots)
        for s in range(n_shots):
            for p in range(n):
                if kinds[s][p] == "away":
                    kinds[s][p] = "away" + ("+" if rng.random() < 0.5 else "-")
        shots = [np.ascontiguousarray(np.concatenate([looks.get(pp, k) for pp, k in zip(people, kinds[s])], axis=1))
                 for s in range(n_shots)]
        t0, c0 = time.perf_counter(), time.process_time()
        pixels, report = best_take(shots)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        base = report[0]["base"]
        plain = [[k.rstrip("+-") for k in row] for row in kinds]

        sessions = [Session(s, name=f"shot {i}") for i, s in enumerate(shots)]
        counts = [len(s.faces) for s in sessions]
        if min(counts) < n:
            missed += n * n_shots - sum(counts)
            print(f"group {g}: faces found per shot {counts} of {n}", flush=True)

        def tile_of(face):  # which person (canvas tile) a face is
            return int(face.centre[0] // args.side)

        ref = max(range(n_shots), key=lambda s: (counts[s], -s))  # as best_take's reference
        person_of = [tile_of(f.face) for f in sessions[ref].faces]

        # Sources right?
        for r in report:
            faces += 1
            p = person_of[r["person"]]
            parts = r["regions"]
            if r["face"] is None:
                failures.append(f"group {g} person {p} ({people[p]}): not in the base shot {base}")
                continue
            eyes_src = parts.get("eyes", parts.get("all", base))
            mouth_src = parts.get("mouth", parts.get("all", base))
            ok = plain[eyes_src][p] in EYES_GOOD and plain[mouth_src][p] in MOUTH_GOOD
            right += ok
            single += plain[eyes_src][p] == "ok" and eyes_src == mouth_src
            if not ok:
                failures.append(f"group {g} person {p} ({people[p]}): kinds {[plain[s][p] for s in range(n_shots)]}, "
                                f"base {base}, regions {parts}, {r['reason']}; scores {r['scores']}")

        # Every output face with open eyes and a smile.
        result = Session(pixels, name="result")
        for face in result.faces:
            p = tile_of(face.face)
            seen = [f for s in sessions for f in s.faces if tile_of(f.face) == p]
            widest = np.max([openness(f.face) for f in seen], axis=0)
            broadest = max(f.code.values.get("smile", 0.0) for f in seen)
            o = openness(face.face) / widest
            eyes_open += bool(np.all(o >= 0.7))
            smiling += face.code.values.get("smile", 0.0) >= 0.5 * broadest
            if not np.all(o >= 0.7):
                failures.append(f"group {g} person {p}: eyes at {np.round(o, 2)} of widest in the result")
        result_faces += len(result.faces)

        # Bit-identity outside the replaced faces; kept faces untouched.
        base_faces = [f.face for f in sessions[base].faces]
        changed = np.any(pixels != shots[base], axis=2)
        allowed = np.zeros(changed.shape, bool)
        for r in report:
            f = base_faces[r["face"]]
            lo, hi = f.points.min(0), f.points.max(0)
            c, half = (lo + hi) / 2, (hi - lo) / 2 * 1.5
            x0, y0 = np.floor(c - half).astype(int).clip(0)
            x1, y1 = np.ceil(c + half).astype(int)
            if r["regions"]:
                allowed[y0:y1, x0:x1] = True
            else:
                kept_bad += bool(changed[y0:y1, x0:x1].any() and not allowed[y0:y1, x0:x1].all())
        outside_bad += bool((changed & ~allowed).any())

        mien.write_photo(args.out / f"group{g:02d}_result.jpg", pixels)
        mien.write_photo(args.out / f"group{g:02d}_explain.jpg", explain(pixels, report, base_faces))
        h = 200
        row = [tile(s, h) for s in shots] + [tile(pixels, h)]
        for i, t in enumerate(row[:-1]):
            label = ("BASE " if i == base else "") + " ".join(k[:5] for k in kinds[i])
            _label(t, label)
        moved = ", ".join(f"{r['face']}:" + "+".join(f"{k[0]}{v}" for k, v in r["regions"].items())
                          for r in report if r["regions"])
        _label(row[-1], f"result: {moved or 'base as is'}")
        rows.append(row)
        row_labels.append(f"group {g}")
        print(f"group {g}: {n} people, {n_shots} shots, base {base}, {walls[-1]:.1f} s wall "
              f"{cpus[-1]:.1f} s CPU; {moved or 'nothing replaced'}", flush=True)

    width = max(sum(t.shape[1] for t in r) for r in rows)
    # Rows differ in width (3-5 people): pad each tile row to one width.
    padded = []
    for r in rows:
        extra = width - sum(t.shape[1] for t in r)
        if extra > 0:
            r = r + [np.full((r[0].shape[0], extra, 3), 255, np.uint8)]
        padded.append(r)
    sheet = contact_sheet(padded, ["shots (each person's state), then the result"], row_labels)
    mien.write_photo(args.out / "sheet.png", sheet)

    print()
    for f in failures:
        print("  " + f)
    print(f"faces {faces} in {args.groups} groups (side {args.side} px)")
    print(f"right sources          {right}/{faces} = {right / faces:.1%}  (whole face from one ok shot: "
          f"{single}/{faces} = {single / faces:.1%})")
    print(f"eyes open in result    {eyes_open}/{result_faces} = {eyes_open / max(result_faces, 1):.1%}")
    print(f"smiling in result      {smiling}/{result_faces} = {smiling / max(result_faces, 1):.1%}")
    print(f"faces the detector missed in the shots: {missed}")
    print(f"groups with changes outside replaced faces: {outside_bad}; kept faces changed: {kept_bad}")
    print(f"time per group: median {np.median(walls):.1f} s wall, {np.median(cpus):.1f} s CPU "
          f"(max {max(walls):.1f} s); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"wrote {args.out / 'sheet.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

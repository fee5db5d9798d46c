"""Teeth colour under the photo's own light: donor mouths on colour-cast photos.

For held-out London people (odd-indexed, sorted names ``[1::2]``: no donor comes from
them) the neutral photo is put under each cast of :mod:`mien.evaluation.casts` (and left
as is), then edited (``happy``, ``fearful``, the ``aaa`` slider) so the mouth opens onto a
donor's teeth. The measure (:func:`mien.evaluation.metrics.teeth_colour`) is the CIELAB
``(a*, b*)`` offset of the teeth from the eye whites of the same image; it is printed
beside the same people's real smiles (their happy photos under the same cast) and beside
the current release (run from ``--release``, default /tmp/mien-release/src). The lisa
photos (dim, warm, not cast here) and frames of the two video clips are edited too. A contact sheet of mouths (release | new
| real smile) per cast is written to ``--sheet``.

    .venv/bin/python benchmarks/teeth_colour.py [--people 8] [--sheet /tmp/teeth_colour.png]

Teeth are measured at the edit's target landmarks (the renderer's geometry), the sclera
in the same edited image.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LONDON = DATA / "london"
CASTS = ("none", "warm", "cool", "green", "dim", "bright")
EDITS = {"happy": dict(emotion="happy", intensity=1.5), "fearful": dict(emotion="fearful", intensity=1.0),
         "aaa": dict(aaa=0.8)}


def video_frames() -> list[np.ndarray]:
    """BGR frames of the talking clip (640x360) and of the smiling man's first frame."""
    frames = []
    for name, picks in (("talking_woman_pexels.mp4", (40, 260, 420)), ("man_neutral_to_smile.mp4", (0,))):
        cap = cv2.VideoCapture(str(DATA / "video" / name))
        for k in picks:
            cap.set(cv2.CAP_PROP_POS_FRAMES, k)
            ok, frame = cap.read()
            if ok:
                frames.append(frame)
        cap.release()
    return frames


def held_out(n: int) -> list[str]:
    return sorted(p.name for p in LONDON.iterdir() if p.is_dir())[1::2][:n]


def _cast(pixels: np.ndarray, cast: str) -> np.ndarray:
    from mien.evaluation.casts import colour_cast

    return pixels if cast == "none" else colour_cast(pixels, cast)


def render(in_dir: Path, out_dir: Path) -> None:
    """Edit every photo in ``in_dir`` with each of :data:`EDITS`, with whichever mien is
    on the path; save the result and the target landmarks (runs under the release too:
    only the public API is used)."""
    import mien
    from mien.controls import Request
    from mien.session import Session

    print(f"rendering with {mien.__file__}", file=sys.stderr)
    for path in sorted(in_dir.glob("*.png")):
        key = path.stem
        px = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        session = Session(px)
        if not session.faces:
            continue
        for name, controls in EDITS.items():
            request = Request.from_controls(**controls)
            scene = session.scene(request)
            out = session.render(request)
            cv2.imwrite(str(out_dir / f"{key}-{name}.png"), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
            np.save(out_dir / f"{key}-{name}.npy", np.asarray(scene.target, np.float32))


def measure(out_dir: Path, key: str, edit: str, face):
    from mien.evaluation.metrics import teeth_colour

    path = out_dir / f"{key}-{edit}.png"
    if not path.exists():
        return None, None
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    target = np.load(out_dir / f"{key}-{edit}.npy")
    return teeth_colour(img, replace(face, landmarks=target)), img


def mouth(img: np.ndarray, landmarks: np.ndarray, size: int = 160) -> np.ndarray:
    from mien import mesh

    p = landmarks[list(mesh.LIPS_OUTER), :2]
    c = p.mean(axis=0)
    half = 0.75 * np.ptp(p[:, 0])
    m = np.array([[size / (2 * half), 0, -(c[0] - half) * size / (2 * half)],
                  [0, size / (2 * half), -(c[1] - 0.6 * half) * size / (2 * half)]])
    return cv2.warpAffine(img, m, (size, int(size * 0.6)), flags=cv2.INTER_AREA)


def fmt(values: list) -> str:
    v = np.array([x for x in values if x is not None])
    if not len(v):
        return "      n/a      "
    med = np.median(v, axis=0)
    return f"({med[0]:+5.1f},{med[1]:+5.1f}) n={len(v):2d}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--release", default="/tmp/mien-release/src")
    ap.add_argument("--sheet", default="/tmp/teeth_colour.png")
    ap.add_argument("--render-only", type=Path, nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    people = held_out(args.people)
    if args.render_only:
        render(*args.render_only)
        return 0

    import mien
    from mien.detect import analyze
    from mien.evaluation.metrics import teeth_colour

    tmp = Path(tempfile.mkdtemp(prefix="teeth_colour_"))
    inputs = tmp / "inputs"
    inputs.mkdir()
    sources = {f"{p}-{c}": (LONDON / p / "neutral.jpg", c) for p in people for c in CASTS}
    sources.update({f"lisa{i}-none": (DATA / "lisa" / f"lisa{i}.jpg", "none") for i in range(1, 5)})
    for key, (path, cast) in sources.items():
        px = _cast(mien.read_photo(path).pixels, cast)
        cv2.imwrite(str(inputs / f"{key}.png"), cv2.cvtColor(px, cv2.COLOR_RGB2BGR))
    for i, frame in enumerate(video_frames()):
        cv2.imwrite(str(inputs / f"video{i + 1}-none.png"), frame)
    dirs = {"release": tmp / "release", "new": tmp / "new"}
    for label, path in (("release", args.release), ("new", str(ROOT / "src"))):
        dirs[label].mkdir()
        env = dict(os.environ, PYTHONPATH=path)
        subprocess.run([sys.executable, __file__, "--render-only", str(inputs), str(dirs[label])],
                       env=env, check=True)

    rows: dict[tuple[str, str, str], list] = {}
    detail: dict[tuple[str, str], list[float]] = {}
    tiles: dict[str, list[np.ndarray]] = {c: [] for c in CASTS}
    others = [p.stem[:-5] for p in sorted(inputs.glob("*-none.png")) if p.stem.startswith(("lisa", "video"))]
    for person in people + others:
        lisa = person.startswith(("lisa", "video"))
        group = "video" if person.startswith("video") else "lisa"
        for cast in ("none",) if lisa else CASTS:
            key = f"{person}-{cast}"
            inp = cv2.cvtColor(cv2.imread(str(inputs / f"{key}.png")), cv2.COLOR_BGR2RGB)
            faces = analyze(inp)
            if not faces:
                continue
            row_tiles = []
            for edit in EDITS:
                for label in ("release", "new"):
                    t, img = measure(dirs[label], key, edit, faces[0])
                    rows.setdefault((cast if not lisa else group, edit, label), []).append(
                        None if t is None else t.offset)
                    if t is not None:
                        detail.setdefault((cast if not lisa else group, label), []).append(t.detail)
                    if edit == "happy" and img is not None:
                        row_tiles.append(mouth(img, np.load(dirs[label] / f"{key}-{edit}.npy")))
            if not lisa:
                happy = _cast(mien.read_photo(LONDON / person / "happy.jpg").pixels, cast)
                hf = analyze(happy)
                if hf:
                    t = teeth_colour(happy, hf[0])
                    rows.setdefault((cast, "real", "real"), []).append(None if t is None else t.offset)
                    if t is not None:
                        detail.setdefault((cast, "real"), []).append(t.detail)
                    row_tiles.append(mouth(happy, hf[0].landmarks))
                tiles[cast].append(np.concatenate(row_tiles, axis=1))
            elif row_tiles:
                tiles.setdefault(group, []).append(np.concatenate(row_tiles, axis=1))

    print("Teeth minus sclera, CIELAB (a*, b*), median over faces with teeth shown")
    print(f"held-out London people {', '.join(people)}; lisa1-4 and video frames uncast")
    print(f"{'cast':8s} {'real smile':>18s} | " + " | ".join(f"{e + ' release':>18s} {e + ' new':>18s}" for e in EDITS))
    for cast in CASTS + ("lisa", "video"):
        real = fmt(rows.get((cast, "real", "real"), [])) if cast in CASTS else " " * 15
        cells = " | ".join(f"{fmt(rows.get((cast, e, 'release'), [])):>18s} {fmt(rows.get((cast, e, 'new'), [])):>18s}"
                           for e in EDITS)
        print(f"{cast:8s} {real:>18s} | {cells}")
    # Distance of each edit's offset from the real smile's under the same cast (London).
    print("\nmedian |offset - real smile's median offset| under the same cast (a*b* units)")
    for label in ("release", "new"):
        errs = []
        for cast in CASTS:
            real = [x for x in rows.get((cast, "real", "real"), []) if x is not None]
            if not real:
                continue
            ref = np.median(real, axis=0)
            for e in EDITS:
                errs += [np.linalg.norm(x - ref) for x in rows.get((cast, e, label), []) if x is not None]
        print(f"  {label:8s} {np.median(errs):5.1f} (n={len(errs)})")

    print("\nteeth detail (std of a sigma-1 px high-pass over the teeth, grey levels; median)")
    for cast in CASTS + ("lisa", "video"):
        cells = "  ".join(f"{label} {np.median(detail[(cast, label)]):4.1f}" for label in ("real", "release", "new")
                          if detail.get((cast, label)))
        print(f"  {cast:8s} {cells}")

    sheet_rows = []
    for cast in CASTS + ("lisa", "video"):
        for t in tiles.get(cast, [])[:3]:
            label = np.full((t.shape[0], 70, 3), 255, np.uint8)
            cv2.putText(label, cast, (2, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
            sheet_rows.append(np.concatenate([label, t], axis=1))
    width = max(r.shape[1] for r in sheet_rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                            for r in sheet_rows])
    cv2.imwrite(args.sheet, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"\ncontact sheet (label | happy: release, new | real smile under the cast): {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Contact sheets for people to judge expression edits on varied faces and light.

One sheet per emotion (rows: faces; columns: input, intensity 0.25, 0.5, 1, 1.5) and
one sheet of the sliders, over held-out London faces of different sex, age and skin
tone, some of them colour-cast (warm tungsten, cool, green, dim, bright: the same casts
as benchmarks/teeth_colour.py), the dim warm lisa photos and frames of the two talking
clips. Nothing is scored: open the PNGs and look.

    .venv/bin/python benchmarks/sheets.py [--out bench-out/sheets] [--height 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

import mien
from mien.evaluation.casts import CASTS, colour_cast
from mien.evaluation.sheet import contact_sheet, face_box, tile
from mien.expression import EMOTIONS
from mien.io import write_photo
from mien.session import Session

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: Held-out (odd-indexed) London people chosen for variety, and the cast each is shown in.
LONDON = (("027", None), ("061", "dim"), ("107", "warm"), ("119", "cool"), ("127", None),
          ("129", "warm"), ("140", "green"), ("136", "bright"))
VIDEO_FRAMES = (("talking_woman_pexels.mp4", 20), ("talking_woman_pexels.mp4", 420),
                ("man_neutral_to_smile.mp4", 2))
INTENSITIES = (0.25, 0.5, 1.0, 1.5)
SLIDERS = (("smile", 1.0), ("smile", -1.0), ("brows", 1.0), ("brows", -1.0), ("inner_brows", 1.0),
           ("blink", 1.0), ("gaze_x", 1.0), ("aaa", 1.0), ("eee", 1.0), ("ooo", 1.0), ("lip_press", 1.0),
           ("yaw", 12.0))


def video_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a clip as ``(H, W, 3)`` ``uint8`` RGB."""
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read frame {index} of {path}")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def faces() -> list[tuple[str, np.ndarray]]:
    """``(label, RGB pixels)`` of every face on the sheets."""
    out = []
    for person, cast in LONDON:
        px = mien.read_photo(DATA / "london" / person / "neutral.jpg").pixels
        out.append((f"{person} {cast or ''}".strip(), colour_cast(px, cast) if cast else px))
    for name in ("lisa1.jpg", "lisa3.jpg"):
        out.append((name[:-4], mien.read_photo(DATA / "lisa" / name).pixels))
    for clip, index in VIDEO_FRAMES:
        out.append((f"{clip.split('_')[0]} f{index}", video_frame(DATA / "video" / clip, index)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench-out/sheets"))
    ap.add_argument("--height", type=int, default=200)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    assert set(CASTS) >= {c for _, c in LONDON if c}
    people = [(label, Session(px)) for label, px in faces()]
    for emotion in EMOTIONS:
        rows, labels = [], []
        for label, session in people:
            state = session.faces[0]
            box = face_box(state.face)
            row = [tile(session.pixels, args.height, box)]
            row += [tile(session.render(mien.Request(emotion=emotion, intensity=t)), args.height, box)
                    for t in INTENSITIES]
            rows.append(row)
            labels.append(label)
        sheet = contact_sheet(rows, ["input"] + [f"{emotion} {t:g}" for t in INTENSITIES], labels)
        write_photo(args.out / f"{emotion}.png", sheet)
        print(f"{args.out / f'{emotion}.png'}", flush=True)
    rows, labels = [], []
    for label, session in people[:: max(1, len(people) // 4)][:4]:
        box = face_box(session.faces[0].face)
        tiles = [tile(session.pixels, args.height, box)]
        for name, value in SLIDERS:
            tiles.append(tile(session.render(mien.Request.from_controls(**{name: value})), args.height, box))
        rows.append(tiles)
        labels.append(label)
    write_photo(args.out / "sliders.png",
                contact_sheet(rows, ["input"] + [f"{n} {v:g}" for n, v in SLIDERS], labels))
    print(f"{args.out / 'sliders.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A photo burst mined from a real video, and transfers within it.

Decodes ``talking_woman_pexels.mp4`` (one woman, 19.7 s, 640x360), analyses every
third frame and picks, by landmark measures: a *pose* frame (the most closed mouth: she
is sad, eyes lowered), a *smile* frame (widest mouth with teeth, another head pose) and an
*eyes* frame (eyes widest open). It writes a contact sheet of: the smile transferred
(all, mouth only, eyes only) and a Best Take (eyes from the eyes frame, mouth from the
smile frame).

Frames 70-235 of the clip show a hand over her face; mien does not handle occlusions
yet (the hand would be painted over), so those frames are not used as the pose.

    .venv/bin/python benchmarks/burst_video.py [--out bench-out]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mien.api import transfer
from mien.detect import analyze
from mien.evaluation.sheet import contact_sheet, face_box, tile
from mien.io import write_photo

HAND_FRAMES = (70, 235)
VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video" / "talking_woman_pexels.mp4"


def frames(path: Path, step: int):
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % step == 0:
                yield i, frame.to_ndarray(format="rgb24")


def measures(face) -> dict[str, float]:
    p, iod = face.points, face.interocular
    return {
        "open": float(np.linalg.norm(p[13] - p[14]) / iod),
        "wide": float(np.linalg.norm(p[61] - p[291]) / iod),
        "eyes": float((np.linalg.norm(p[159] - p[145]) + np.linalg.norm(p[386] - p[374])) / (2 * iod)),
        "yaw": face.pose.angles[0],
        "pitch": face.pose.angles[1],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--step", type=int, default=3)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    shots = []
    for i, img in frames(VIDEO, args.step):
        faces = analyze(img)
        if len(faces) == 1 and faces[0].score > 0.5:
            shots.append((i, img, faces[0], measures(faces[0])))
    print(f"{len(shots)} frames with one clear face (every {args.step}th frame)")
    m = {k: np.array([s[3][k] for s in shots]) for k in ("open", "wide", "eyes", "yaw", "pitch")}
    index = np.array([s[0] for s in shots])
    usable = (index < HAND_FRAMES[0]) | (index > HAND_FRAMES[1])
    pose_i = int(np.argmin(np.where(usable, m["open"] - m["eyes"], np.inf)))
    pose = shots[pose_i]
    far = np.abs(m["yaw"] - m["yaw"][pose_i]) + np.abs(m["pitch"] - m["pitch"][pose_i]) > 6
    smile_i = int(np.argmax(np.where(far & (m["open"] > 0.08), m["wide"], -1)))
    eyes_i = int(np.argmax(np.where(usable, m["eyes"], -1)))
    smile, eyes = shots[smile_i], shots[eyes_i]
    for name, s in (("pose", pose), ("smile", smile), ("eyes", eyes)):
        print(f"{name} frame {s[0]}: yaw {s[3]['yaw']:+.0f} pitch {s[3]['pitch']:+.0f}, mouth open "
              f"{s[3]['open']:.2f}, eyes open {s[3]['eyes']:.3f} (inter-ocular units)")
    f = pose[2]
    box = face_box(f, 1.0, 1.0, 1.1)

    def face_tile(shot):
        return tile(shot[1], 260, face_box(shot[2], 1.0, 1.0, 1.1))

    rows, labels = [], []
    row = [face_tile(pose), face_tile(smile)]
    for regions in ("all", "mouth", "eyes"):
        row.append(tile(transfer(pose[1], smile[1], regions=regions), 260, box))
    rows.append(row)
    labels.append(f"smile from frame {smile[0]}")
    best = transfer(pose[1], {"eyes": eyes[1], "mouth": smile[1]})
    rows.append([face_tile(pose), face_tile(eyes), face_tile(smile), tile(best, 260, box)])
    labels.append("Best Take")
    sheet = contact_sheet(rows, [f"pose: frame {pose[0]}", "expression frame(s)", "mien: all / eyes frame",
                                 "mouth only / smile frame", "eyes only / best take"], labels)
    path = args.out / "burst_video.png"
    write_photo(path, sheet)
    print(f"contact sheet: {path}  (video: Wolfgang Lange on Pexels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

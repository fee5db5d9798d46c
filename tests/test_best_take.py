"""Best Take on synthetic group bursts: three London people side by side per shot, some
blinking (mien's own blink edit) or not smiling (their neutral photo)."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

import mien
from mien.controls.best_take import best_take
from mien.errors import InputError
from mien.session import Session

SIDE = 400  # each person's tile, pixels (faces ~150 px wide)
PEOPLE = ("020", "036", "063")


def _openness(face) -> np.ndarray:
    p = face.points
    iod = np.linalg.norm(p[33] - p[263])
    return np.array([np.linalg.norm(p[159] - p[145]), np.linalg.norm(p[386] - p[374])]) / iod


@pytest.fixture(scope="module")
def looks(london):
    """{person: {"neutral", "happy", "blink" (happy, eyes shut), "nblink" (neutral, eyes shut)}}."""
    out = {}
    for person in PEOPLE:
        neutral, happy = (cv2.resize(p, (SIDE, SIDE), interpolation=cv2.INTER_AREA) for p in london(person))
        out[person] = {"neutral": neutral, "happy": happy, "blink": mien.edit(happy, blink=1),
                       "nblink": mien.edit(neutral, blink=1)}
    return out


def _shot(looks, *kinds, people=PEOPLE):
    return np.ascontiguousarray(np.concatenate([looks[p][k] for p, k in zip(people, kinds)], axis=1))


@pytest.fixture(scope="module")
def burst(looks):
    """Shot 0: 020 blinks, 063 neutral; shot 1: 036 blinks; shot 2: 063 blinks."""
    shots = [_shot(looks, "blink", "happy", "neutral"),
             _shot(looks, "happy", "blink", "happy"),
             _shot(looks, "happy", "happy", "blink")]
    sessions = [Session(s, name=f"shot {i}") for i, s in enumerate(shots)]
    return shots, sessions


@pytest.fixture(scope="module")
def result(burst):
    return best_take(burst[1])


def _allowed(faces, replaced, shape, grow=1.5):
    """Pixels the renderer may touch: a box ``grow`` times each replaced face's extent."""
    mask = np.zeros(shape[:2], bool)
    for f in (faces[i] for i in replaced):
        lo, hi = f.points.min(0), f.points.max(0)
        c, half = (lo + hi) / 2, (hi - lo) / 2 * grow
        x0, y0 = np.floor(c - half).astype(int).clip(0)
        x1, y1 = np.ceil(c + half).astype(int)
        mask[y0:y1, x0:x1] = True
    return mask


def test_base_needs_fewest_replacements_and_sources_are_right(result):
    pixels, report = result
    base = report[0]["base"]
    # Shot 0 needs two replacements (020's eyes, 063's smile); shots 1 and 2 need one each.
    assert base in (1, 2)
    assert [r["face"] for r in report] == [0, 1, 2]
    blinker = 1 if base == 1 else 2
    for r in report:
        if r["face"] == blinker:
            # Happy with eyes open elsewhere: 036 in shots 0 and 2, 063 only in shot 1.
            good = {0, 2} if blinker == 1 else {1}
            assert r["regions"] and set(r["regions"].values()) <= good, r
            assert "eyes" in r["reason"]
        else:
            assert r["regions"] == {} and r["from"] == base, r


def test_every_output_face_has_eyes_open_and_smiles(burst, result):
    pixels, report = result
    sessions = burst[1]
    out = Session(pixels, name="result")
    assert len(out.faces) == 3
    for i, face in enumerate(out.faces):
        widest = np.max([_openness(s.faces[i].face) for s in sessions], axis=0)
        assert np.all(_openness(face.face) > 0.7 * widest), (i, _openness(face.face), widest)
        assert face.code.values.get("smile", 0) > 0.3, (i, face.code.values)


def test_pixels_outside_replaced_faces_are_bit_identical_to_the_base(burst, result):
    pixels, report = result
    base = report[0]["base"]
    shot = burst[0][base]
    replaced = [r["face"] for r in report if r["regions"]]
    assert replaced
    changed = np.any(pixels != shot, axis=2)
    assert changed.any()
    allowed = _allowed([s.face for s in burst[1][base].faces], replaced, shot.shape)
    assert not (changed & ~allowed).any()
    assert pixels.dtype == shot.dtype and pixels.shape == shot.shape


def test_base_is_honoured(burst):
    pixels, report = best_take(burst[1], base=0)
    assert {r["base"] for r in report} == {0}
    by_face = {r["face"]: r for r in report}
    assert by_face[1]["regions"] == {}
    # 020 blinks in shot 0; 063 does not smile there: both come from elsewhere.
    assert by_face[0]["regions"] and set(by_face[0]["regions"].values()) <= {1, 2}
    assert by_face[2]["regions"] and set(by_face[2]["regions"].values()) == {1}
    assert "smile" in by_face[2]["reason"]
    allowed = _allowed([s.face for s in burst[1][0].faces], [0, 2], pixels.shape)
    assert not (np.any(pixels != burst[0][0], axis=2) & ~allowed).any()


def test_eyes_and_mouth_from_different_shots(looks):
    # 020: shot 0 neutral and blinking (base), shot 1 smiling but blinking, shot 2 neutral
    # with eyes open: the mouth must come from 1 and the eyes from 2.
    people = ("020", "036")
    shots = [_shot(looks, "nblink", "happy", people=people),
             _shot(looks, "blink", "happy", people=people),
             _shot(looks, "neutral", "happy", people=people)]
    pixels, report = best_take(shots, base=0)
    by_face = {r["face"]: r for r in report}
    assert by_face[0]["regions"] == {"eyes": 2, "mouth": 1}, by_face[0]
    assert by_face[0]["from"] == [1, 2]
    assert by_face[1]["regions"] == {}
    assert np.array_equal(pixels[:, SIDE + 20:], shots[0][:, SIDE + 20:])


def test_eyes_looking_away_and_a_blurred_face_are_replaced(looks):
    # 020 looks away (mien's gaze edit) in the base shot, 036 is blurred there; both are
    # fine in shots 1 and 2.
    people = ("020", "036")
    away = mien.edit(looks["020"]["happy"], gaze_x=1)
    blurred = cv2.GaussianBlur(looks["036"]["happy"], (0, 0), 2.5)
    shots = [np.concatenate([away, blurred], axis=1), _shot(looks, "happy", "happy", people=people),
             _shot(looks, "happy", "happy", people=people)]
    pixels, report = best_take(shots, base=0)
    by_face = {r["face"]: r for r in report}
    assert by_face[0]["regions"] and set(by_face[0]["regions"].values()) <= {1, 2}, by_face[0]
    assert "looks at the camera" in by_face[0]["reason"]
    assert by_face[1]["regions"] and set(by_face[1]["regions"].values()) <= {1, 2}, by_face[1]
    assert by_face[1]["scores"][0]["sharp"] < 0.8 <= by_face[1]["scores"][1]["sharp"]
    assert by_face[1]["reason"].startswith("blurred in the base shot"), by_face[1]
    # Left alone, the base is one of the good shots and nothing changes.
    pixels, report = best_take(shots)
    assert report[0]["base"] in (1, 2) and all(not r["regions"] for r in report)
    assert np.array_equal(pixels, shots[report[0]["base"]])


def test_a_shot_with_fewer_people(looks):
    # Shot 1 lacks 063: it can give 020 and 036 their faces but cannot be the base by itself.
    shots = [_shot(looks, "blink", "happy", "happy"), _shot(looks, "happy", "happy", people=PEOPLE[:2])]
    pixels, report = best_take(shots)
    assert report[0]["base"] == 0 and len(report) == 3
    assert report[0]["regions"] == {"all": 1} and report[2]["regions"] == {}
    # Asked for it, the two-person shot is the base and the missing person is reported.
    pixels, report = best_take(shots, base=1)
    assert pixels.shape == shots[1].shape
    missing = [r for r in report if r["face"] is None]
    assert len(missing) == 1 and missing[0]["from"] is None and "not in the base shot" in missing[0]["reason"]
    assert all(r["regions"] == {} for r in report if r["face"] is not None)
    assert np.array_equal(pixels, shots[1])


def test_a_stranger_is_never_a_source(looks, data):
    # One face per shot, but shot 1 shows someone else: 020's blink stays (no source).
    stranger = mien.read_photo(data / "london" / "081" / "happy.jpg").pixels
    shots = [looks["020"]["blink"], cv2.resize(stranger, (SIDE, SIDE), interpolation=cv2.INTER_AREA)]
    pixels, report = best_take(shots, base=0)
    assert len(report) == 1 and report[0]["regions"] == {} and set(report[0]["scores"]) == {0}
    assert np.array_equal(pixels, shots[0])


@pytest.mark.parametrize("shots, base, message", [
    (1, None, "at least two shots"),
    (2, 5, "base shot 5 does not exist"),
    (2, "x", "base must be a shot number"),
])
def test_bad_input(burst, shots, base, message):
    with pytest.raises(InputError, match=message):
        best_take(burst[0][:shots], base=base)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "mien", *map(str, args)], capture_output=True, text=True)


def test_cli_writes_result_report_and_explanation(burst, tmp_path):
    paths = []
    for i, shot in enumerate(burst[0]):
        paths.append(tmp_path / f"shot{i}.png")
        mien.write_photo(paths[-1], shot)
    out, overlay = tmp_path / "best.png", tmp_path / "why.png"
    r = _run("best-take", *paths, "-o", out, "--base", "1", "--explain", overlay)
    assert r.returncode == 0, r.stderr
    assert "base shot 1 (shot1.png)" in r.stdout
    assert "face 1: all from shot" in r.stdout and "eyes closed" in r.stdout
    assert "face 0: kept" in r.stdout
    result = mien.read_photo(out).pixels
    assert result.shape == burst[0][1].shape
    assert mien.read_photo(overlay).pixels.shape == result.shape

    # Errors: one line, exit 2, nothing written.
    out2 = tmp_path / "none.png"
    for args in ([paths[0], tmp_path / "missing.jpg"], [paths[0]]):
        r = _run("best-take", *args, "-o", out2)
        assert r.returncode == 2, r.stderr
        lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("mien: error: "), r.stderr
        assert not out2.exists()

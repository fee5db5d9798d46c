"""The command line end to end, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

MIEN = [sys.executable, "-m", "mien"]


def run(*args, cwd=None):
    return subprocess.run([*MIEN, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def photos(data):
    d = data / "london" / "020"
    return d / "neutral.jpg", d / "happy.jpg"


def test_transfer_writes_a_full_resolution_edit(photos, tmp_path):
    pose, expr = photos
    out = tmp_path / "smile.jpg"
    r = run("transfer", pose, expr, "-o", out, "--regions", "mouth,eyes", "--strength", "0.8")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr
    assert Image.open(out).size == Image.open(pose).size
    # MediaPipe's native logging must not reach the user.
    assert "W0000" not in r.stderr and "absl" not in r.stderr


def test_per_region_sources(photos, tmp_path):
    pose, expr = photos
    out = tmp_path / "best.png"
    r = run("transfer", pose, "--mouth", expr, "--eyes", pose, "-o", out)
    assert r.returncode == 0, r.stderr
    assert out.exists()


@pytest.mark.parametrize("case", ["missing", "truncated", "same-as-input", "no-expression", "bad-region",
                                  "bad-strength", "no-face", "other-person"])
def test_bad_input_gets_one_line_exit_2_and_writes_nothing(case, photos, data, tmp_path):
    pose, expr = photos
    out = tmp_path / "out.jpg"
    args = ["transfer", pose, expr, "-o", out]
    if case == "missing":
        args[2] = tmp_path / "nope.jpg"
    elif case == "truncated":
        cut = tmp_path / "cut.jpg"
        cut.write_bytes(Path(expr).read_bytes()[:20000])
        args[2] = cut
    elif case == "same-as-input":
        args[-1] = pose
    elif case == "no-expression":
        args = ["transfer", pose, "-o", out]
    elif case == "bad-region":
        args += ["--regions", "ears"]
    elif case == "bad-strength":
        args += ["--strength", "2"]
    elif case == "no-face":
        Image.new("RGB", (300, 300), (120, 130, 140)).save(tmp_path / "wall.jpg")
        args[2] = tmp_path / "wall.jpg"
    elif case == "other-person":
        args[2] = data / "london" / "063" / "happy.jpg"
    before = Path(pose).read_bytes()
    r = run(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    if case != "bad-strength":  # that one is typer's own usage error
        assert len(lines) == 1 and lines[0].startswith("mien: error: "), r.stderr
    assert not out.exists()
    assert Path(pose).read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_inspect_draws_an_overlay_and_lists_faces(photos, tmp_path):
    out = tmp_path / "overlay.png"
    r = run("inspect", photos[0], "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("face 0:") and "yaw" in r.stdout
    assert Image.open(out).size == Image.open(photos[0]).size


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "transfer" in r.stdout and "subject's left" in r.stdout
    r = run("transfer", "--help")
    assert "--eyes" in r.stdout and "--strength" in r.stdout
    assert run("--version").stdout.startswith("mien ")


def test_demo_writes_results_and_a_contact_sheet(tmp_path):
    r = run("demo", "-o", tmp_path / "demo")
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert "contact-sheet.png" in files and len(files) == 13


def test_edit_with_emotion_aus_and_sliders_and_expression_files(photos, tmp_path):
    pose, _ = photos
    out = tmp_path / "e.jpg"
    saved = tmp_path / "e.json"
    r = run("edit", pose, "-o", out, "--emotion", "happy", "--intensity", "0.6", "--au", "6=0.4",
            "--blink", "0.3", "--save-expression", saved)
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == Image.open(pose).size
    assert '"mien_expression": 1' in saved.read_text()
    r = run("edit", pose, "-o", tmp_path / "again.png", "--expression", saved, "--magnify", "1.2")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args,message", [
    (["--emotion", "joyful"], "choose from neutral"),
    (["--au", "99=1"], "unknown Action Unit"),
    (["--au", "12"], "NUMBER=INTENSITY"),
    (["--yaw", "40"], "between -15 and 15 degrees"),
    (["--expression", "missing.json"], "no such file"),
])
def test_edit_bad_values_get_one_line_errors(photos, tmp_path, args, message):
    out = tmp_path / "x.jpg"
    r = run("edit", photos[0], "-o", out, *args)
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not out.exists()


def test_sweep_writes_a_contact_sheet(photos, tmp_path):
    out = tmp_path / "sweep.png"
    r = run("sweep", photos[0], "--emotion", "surprised", "-o", out, "--steps", "4")
    assert r.returncode == 0, r.stderr
    w, h = Image.open(out).size
    assert w > 4 * 200 and h > 200


def test_eyes_and_mouth_flags_take_their_own_regions(photos, tmp_path, data):
    import numpy as np

    import mien

    pose, expr = photos
    before = mien.read_photo(pose).pixels
    face = mien.Session(before).faces[0].face
    mouth_box = cv2_box(face, (61, 291, 0, 17))
    eyes_box = cv2_box(face, (33, 263, 159, 145, 386, 374))
    changed = {}
    for flag in ("--mouth", "--eyes"):
        out = tmp_path / f"{flag[2:]}.png"
        r = run("transfer", pose, flag, expr, "-o", out)
        assert r.returncode == 0, r.stderr
        after = mien.read_photo(out).pixels.astype(int)
        changed[flag] = [np.abs(after[b] - before[b]).mean() for b in (mouth_box, eyes_box)]
    assert changed["--mouth"][0] > 3 * changed["--mouth"][1]
    assert changed["--eyes"][1] > 3 * changed["--eyes"][0]


def cv2_box(face, indices, pad=0.15):
    pts = face.points[list(indices)]
    x0, y0 = pts.min(axis=0) - pad * face.interocular
    x1, y1 = pts.max(axis=0) + pad * face.interocular
    return slice(int(y0), int(y1)), slice(int(x0), int(x1))


def test_strength_reaches_the_result(photos, tmp_path):
    import numpy as np

    import mien

    pose, expr = photos
    before = mien.read_photo(pose).pixels.astype(int)
    diffs = []
    for strength in ("0", "0.5", "1"):
        out = tmp_path / f"s{strength}.png"
        r = run("transfer", pose, expr, "-o", out, "--strength", strength)
        assert r.returncode == 0, r.stderr
        diffs.append(np.abs(mien.read_photo(out).pixels.astype(int) - before).mean())
    assert diffs[0] == 0
    assert 0.2 * diffs[2] < diffs[1] < 0.8 * diffs[2]


def test_edit_help_lists_every_registry_control():
    from mien.controls.registry import CONTROLS

    r = run("edit", "--help")
    assert r.returncode == 0
    for c in CONTROLS:
        assert c.flag in r.stdout

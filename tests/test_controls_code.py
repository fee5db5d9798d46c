"""Single-photo editing: controls, combinations, invariants, save/load, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import mien
from mien import mesh
from mien.api import edit
from mien.controls import Request
from mien.scene import Scene
from mien.session import Session
from mien.errors import FaceMismatchError, InputError, NoFaceError
from mien.expression import Expression, align_to, emotion_code, read
from mien.detect import analyze


@pytest.fixture(scope="module")
def neutral(london):
    return london("063")[0]


@pytest.fixture(scope="module")
def face(neutral):
    return analyze(neutral)[0]


def target_of(photo, request: Request):
    """The target landmarks a request gives the photo's first face."""
    return Session(photo).scene(request).target


def lips_gap(f):
    return np.linalg.norm(f.points[13] - f.points[14]) / f.interocular


def corner_lift(before, after):
    """Mean upward motion of the mouth corners relative to the stable points (forehead,
    nose bridge), in inter-ocular distances."""
    moved = align_to(after.landmarks, before.landmarks)
    return float(-(moved[[61, 291], 1] - before.points[[61, 291], 1]).mean() / before.interocular)


def test_zero_intensity_magnify_one_and_empty_requests_return_the_input(neutral):
    assert np.array_equal(edit(neutral), neutral)
    assert np.array_equal(edit(neutral, emotion="happy", intensity=0.0), neutral)
    assert np.array_equal(edit(neutral, magnify=1.0), neutral)
    assert np.array_equal(edit(neutral, smile=0.0, au={"12": 0.0}), neutral)


def test_happy_lifts_the_corners_and_more_intensity_lifts_more(neutral, face):
    lifts = [corner_lift(face, analyze(edit(neutral, emotion="happy", intensity=t))[0]) for t in (0.5, 1.0, 1.5)]
    assert lifts[0] > 0.01
    assert lifts[0] < lifts[1] < lifts[2]


def test_happy_one_opens_the_mouth_on_the_teeth_and_half_is_an_everyday_smile(neutral, face):
    """The intensity scale: happy 1 is a broad posed smile whose opening brings the donor
    teeth fully in; 0.5 is a moderate smile; the face outline below the mouth barely moves."""
    from mien.controls.code import OPENING_FOR_TEXTURE
    from mien.retarget import opening

    session = Session(neutral)
    state = session.faces[0]
    iod = face.interocular
    scenes = {t: session.scene(Request(emotion="happy", intensity=t)) for t in (0.5, 1.0)}
    added = {t: opening(s.target, iod) - opening(face.landmarks, iod) for t, s in scenes.items()}
    assert added[1.0] > 2.5 * OPENING_FOR_TEXTURE and added[0.5] > OPENING_FOR_TEXTURE
    assert added[0.5] == pytest.approx(added[1.0] / 2, rel=0.1)
    layers = scenes[1.0].layers
    assert layers and layers[0].weights.max() == pytest.approx(1.0)
    # The chin goes down no more than a real broad smile's (0.05 IOD): no lengthened face.
    c0 = state.canonical
    c1 = state.frame.to_canonical(scenes[1.0].target)
    assert 0 < (c0[152, 1] - c1[152, 1]) / np.linalg.norm(c0[33] - c0[263]) < 0.05
    # Re-detected, the edit's mouth is open by more than a closed-lip smile's.
    assert lips_gap(analyze(edit(neutral, emotion="happy", intensity=1.0))[0]) > lips_gap(face) + 0.06


def test_pixels_outside_the_face_are_bit_identical(neutral, face):
    import cv2

    out = edit(neutral, emotion="surprised")
    changed = np.any(out != neutral, axis=2)
    # The edit may reach the support ring around the source face and around the target
    # face (a dropped jaw moves the outline down); nothing beyond.
    target = target_of(neutral, Request(emotion="surprised"))
    far = np.ones(changed.shape, np.uint8)
    for points in (face.points, target[:, :2]):
        oval = points[list(mesh.FACE_OVAL)]
        c = oval.mean(0)
        cv2.fillPoly(far, [np.round(c + 1.45 * (oval - c)).astype(np.int32)], 0)
    assert not (changed & far.astype(bool)).any()
    assert changed.any()


@pytest.mark.parametrize("control,check", [
    ({"aaa": 1.0}, lambda b, a: lips_gap(a) - lips_gap(b) > 0.1),
    ({"blink": 1.0}, lambda b, a: np.linalg.norm(a.points[386] - a.points[374]) <
     0.4 * np.linalg.norm(b.points[386] - b.points[374])),
    ({"wink_left": 1.0}, lambda b, a: np.linalg.norm(a.points[386] - a.points[374]) <
     0.5 * np.linalg.norm(a.points[159] - a.points[145])),
    ({"brows": 1.0}, lambda b, a: (b.points[[105, 334], 1] - a.points[[105, 334], 1]).mean() > 0.02 * b.interocular),
    ({"brows": -1.0}, lambda b, a: (a.points[[105, 334], 1] - b.points[[105, 334], 1]).mean() > 0.01 * b.interocular),
    ({"ooo": 1.0}, lambda b, a: np.linalg.norm(a.points[61] - a.points[291]) <
     0.92 * np.linalg.norm(b.points[61] - b.points[291])),
    ({"eee": 1.0}, lambda b, a: np.linalg.norm(a.points[61] - a.points[291]) >
     1.04 * np.linalg.norm(b.points[61] - b.points[291])),
    ({"smile": -1.0}, lambda b, a: corner_lift(b, a) < -0.006),
    ({"gaze_x": 1.0}, lambda b, a: (a.points[[468, 473], 0] - b.points[[468, 473], 0]).mean() > 0.015 * b.interocular),
    ({"gaze_x": -1.0}, lambda b, a: (a.points[[468, 473], 0] - b.points[[468, 473], 0]).mean() < -0.015 * b.interocular),
    ({"gaze_y": 1.0}, lambda b, a: (b.points[[468, 473], 1] - a.points[[468, 473], 1]).mean() > 0.006 * b.interocular),
    ({"yaw": 12.0}, lambda b, a: a.pose.angles[0] - b.pose.angles[0] > 5),
    ({"yaw": -12.0}, lambda b, a: a.pose.angles[0] - b.pose.angles[0] < -5),
    ({"pitch": 12.0}, lambda b, a: a.pose.angles[1] - b.pose.angles[1] > 4),
    ({"roll": -10.0}, lambda b, a: a.pose.angles[2] - b.pose.angles[2] < -5),
])
def test_each_slider_does_what_it_says(neutral, face, control, check):
    after = analyze(edit(neutral, **control))[0]
    assert check(face, after), control


def test_controls_combine(neutral, face):
    both = analyze(edit(neutral, emotion="happy", blink=1.0))[0]
    assert corner_lift(face, both) > 0.01
    assert np.linalg.norm(both.points[386] - both.points[374]) < 0.4 * np.linalg.norm(face.points[386] - face.points[374])


def test_neutralize_then_reapply_returns_close_to_the_input(london):
    _, happy = london("020")
    f = analyze(happy)[0]
    code = read(f)
    flat = edit(happy, neutralize=True)
    back = edit(flat, expression=code)
    fb = analyze(back)[0]
    err = np.linalg.norm(fb.points - f.points, axis=1).mean() / f.interocular
    moved = np.linalg.norm(analyze(flat)[0].points - f.points, axis=1).mean() / f.interocular
    assert moved > 0.008          # neutralising really changed the face
    assert err < 0.5 * moved      # and re-applying the read code brings it back


def test_magnify_and_suppress_scale_the_current_smile(london):
    _, happy = london("020")
    f = analyze(happy)[0]
    big = analyze(edit(happy, magnify=1.8))[0]
    small = analyze(edit(happy, magnify=0.3))[0]
    assert corner_lift(f, big) > 0.005 and corner_lift(f, small) < -0.005


def test_saved_expression_moves_another_face_the_same_way(london, tmp_path):
    n1 = london("020")[0]
    n2 = london("063")[0]
    request = Request(emotion="surprised", intensity=0.8)
    code = request.resulting_code(Session(n1).faces[0].code)
    path = tmp_path / "e.json"
    path.write_text(code.to_json())
    loaded = Expression.from_json(path.read_text())
    assert loaded.values.keys() == code.values.keys()
    out = analyze(edit(n2, expression=loaded))[0]
    assert lips_gap(out) > lips_gap(analyze(n2)[0]) + 0.08


def test_keep_mouth_keeps_the_opening(neutral, face):
    target = target_of(neutral, Request(emotion="surprised", keep_mouth=True))
    # The inner-lip vector comes out exactly as it was (seed 003's relative lip distance).
    np.testing.assert_allclose(target[14, :2] - target[13, :2], face.points[14] - face.points[13], atol=1e-6)
    free = target_of(neutral, Request(emotion="surprised"))
    # Only the jaw side moves: the irises and the upper lip are where the emotion put them.
    np.testing.assert_allclose(target[468:], free[468:], atol=1e-9)
    np.testing.assert_allclose(target[13], free[13], atol=1e-6)
    brow_up = (face.points[105, 1] - target[105, 1])
    assert brow_up > 0.02 * face.interocular  # the rest of the emotion is still there


def test_opening_the_mouth_brings_mouth_interior_texture(neutral, face):
    out = edit(neutral, aaa=1.0)
    after = analyze(out)[0]
    inner = after.mask("mouth_interior") > 0
    assert inner.sum() > 200
    # Teeth and shadow: the interior is not just stretched lip colour.
    lips = (face.mask("lips") > 0) & ~(face.mask("mouth_interior") > 0)
    spread = out[inner].astype(float).std(axis=0).mean()
    assert spread > 0.8 * neutral[lips].astype(float).std(axis=0).mean()


def test_a_reference_photo_of_the_same_person_gives_the_mouth_interior(london):
    neutral, happy = london("036")
    out = edit(neutral, aaa=0.7, reference=happy)
    assert out.shape == neutral.shape and not np.array_equal(out, neutral)
    # The reference's own teeth, not the donor's: the mouth interiors differ.
    donor = edit(neutral, aaa=0.7)
    inner = analyze(out)[0].mask("mouth_interior") > 0
    assert np.abs(out[inner].astype(float) - donor[inner].astype(float)).mean() > 8
    with pytest.raises(FaceMismatchError, match="different person"):
        edit(neutral, aaa=0.7, reference=london("020")[1])


def test_bad_requests_get_errors_that_list_the_valid_values(neutral, rng):
    with pytest.raises(InputError, match="choose from neutral, happy"):
        edit(neutral, emotion="joyful")
    with pytest.raises(InputError, match="between 0 and 1.5"):
        edit(neutral, emotion="happy", intensity=3)
    with pytest.raises(InputError, match="unknown Action Unit '99'; valid: 1, 1L"):
        edit(neutral, au={"99": 1})
    with pytest.raises(InputError, match="unknown slider 'frown'"):
        edit(neutral, frown=1)
    with pytest.raises(InputError, match="between -15 and 15 degrees"):
        edit(neutral, yaw=40)
    with pytest.raises(InputError, match="between 0 and 1"):
        edit(neutral, wink_left=-1)
    noise = (rng.random((300, 300, 3)) * 255).astype(np.uint8)
    with pytest.raises(NoFaceError):
        edit(noise, emotion="happy")


def test_file_helper_saves_and_loads_expressions(data, tmp_path):
    src = data / "london" / "020" / "neutral.jpg"
    out = mien.edit_files(src, tmp_path / "o.jpg", emotion="happy", intensity=0.6,
                          save_expression=tmp_path / "e.json")
    assert out.exists() and (tmp_path / "e.json").exists()
    other = data / "london" / "063" / "neutral.jpg"
    again = mien.edit_files(other, tmp_path / "o2.png", load_expression=tmp_path / "e.json")
    # The loaded expression is what was saved, and the file helper applies it.
    saved = Expression.from_json((tmp_path / "e.json").read_text())
    assert saved.values.get("smile", 0) == pytest.approx(emotion_code("happy", 0.6).values["smile"], abs=0.05)
    pixels = mien.read_photo(other).pixels
    assert np.array_equal(mien.read_photo(again).pixels, edit(pixels, expression=saved))
    assert not np.array_equal(mien.read_photo(again).pixels, pixels)
    with pytest.raises(InputError, match="never overwrites"):
        mien.edit_files(src, src, emotion="happy")


def test_smile_shading_stays_on_the_face_even_near_the_image_corner(london):
    """A face near the top-left corner: image coordinates there overlap the shading
    texture's own, so a lookup that leaked off the face would shade the background."""
    neutral, _ = london("063")
    small = np.ascontiguousarray(neutral[150:900, 180:1000])
    import cv2

    small = cv2.resize(small, (410, 375), interpolation=cv2.INTER_AREA)
    canvas = np.full((900, 900, 3), 180, np.uint8)
    canvas[:375, :410] = small
    out = edit(canvas, smile=1.0)
    f = analyze(canvas)[0]
    oval = f.points[list(mesh.FACE_OVAL)]
    c = oval.mean(0)
    far = np.ones(canvas.shape[:2], np.uint8)
    cv2.fillPoly(far, [np.round(c + 1.45 * (oval - c)).astype(np.int32)], 0)
    assert not np.any(out != canvas, axis=2)[far.astype(bool)].any()


def test_preview_renders_the_edit_at_working_resolution(neutral):
    session = Session(neutral)
    still = session.preview(Request())
    smiling = session.preview(Request.from_controls(smile=1.0))
    assert still.dtype == np.float32 and still.ndim == 3 and still.shape[2] == 3
    assert max(still.shape[:2]) < max(neutral.shape[:2])  # a working-resolution crop
    assert 0.0 <= smiling.min() and smiling.max() <= 1.0
    assert np.abs(smiling - still).max() > 0.1
    # The same analysis is reused: a second call gives the same pixels.
    np.testing.assert_array_equal(session.preview(Request.from_controls(smile=1.0)), smiling)


def test_a_wide_open_mouth_is_dark_inside_below_the_teeth(neutral):
    out = edit(neutral, aaa=1.0)
    after = analyze(out)[0]
    inner = after.mask("mouth_interior") > 0
    ys = np.nonzero(inner)[0]
    top, bottom = ys.min(), ys.max()
    third = (bottom - top) // 3
    grey = out.astype(float).mean(axis=2)
    upper = grey[top:top + third][inner[top:top + third]].mean()
    lower = grey[bottom - third:bottom][inner[bottom - third:bottom]].mean()
    # Teeth under the upper lip, an open, shadowed cavity below (not stretched teeth).
    assert lower < 0.6 * upper


def test_smile_shading_changes_the_face_but_not_the_warp(neutral, face):
    from mien import shading
    from mien.render import plan

    target = target_of(neutral, Request(sliders={"smile": 1.0}))
    plain = plan(neutral, Scene(face, target))
    shaded = plan(neutral, Scene(face, target, shading=shading.smile(1.0)))
    np.testing.assert_array_equal(plain.map, shaded.map)
    diff = np.abs(shaded.preview - plain.preview).max(axis=2)
    on_face = plain.mesh.ids >= 0
    assert diff[on_face].max() > 0.03
    assert diff[~on_face].max() == 0


def _signature(photo, emotion):
    """How an emotion moves the face, in the pose-free frame, in inter-ocular units."""
    state = Session(photo).faces[0]
    c0 = state.canonical
    c = state.frame.to_canonical(state.session.scene(Request(emotion=emotion)).target)
    io = np.linalg.norm(c0[33] - c0[263])
    up = lambda i: (c[i, 1] - c0[i, 1]) / io  # noqa: E731 - canonical y points up
    return {
        "corner_right": up(61), "corner_left": up(291), "brows": (up(107) + up(336)) / 2,
        "brow_gap": (np.linalg.norm(c[107, :2] - c[336, :2]) - np.linalg.norm(c0[107, :2] - c0[336, :2])) / io,
        "open": ((c[13, 1] - c[14, 1]) - (c0[13, 1] - c0[14, 1])) / io,
        "width": ((c[291, 0] - c[61, 0]) - (c0[291, 0] - c0[61, 0])) / io,
        "lids": ((c[159, 1] - c[145, 1]) - (c0[159, 1] - c0[145, 1])) / io,
    }


@pytest.fixture(scope="module")
def signatures(neutral):
    from mien.expression import EMOTION_NAMES

    return {e: _signature(neutral, e) for e in EMOTION_NAMES[1:]}


def test_every_emotion_moves_the_face_its_own_way(signatures):
    happy, sad, angry = signatures["happy"], signatures["sad"], signatures["angry"]
    surprised, disgusted, fearful = signatures["surprised"], signatures["disgusted"], signatures["fearful"]
    contempt = signatures["contempt"]
    # Happy: corners up, mouth wider.
    assert happy["corner_left"] > 0.02 and happy["corner_right"] > 0.02 and happy["width"] > 0.04
    # Sad: corners down, mouth closed, brows drawn together; no smile.
    assert sad["corner_left"] < -0.01 and sad["open"] < 0 and sad["brow_gap"] < -0.005
    # Angry: brows lowered and drawn together, lids narrowed, lips pressed narrow.
    assert angry["brows"] < -0.03 and angry["brow_gap"] < -0.015 and angry["lids"] < -0.01
    assert angry["width"] < -0.04
    # Surprised: brows raised high, jaw dropped to a parted mouth (not a yawn), eyes widened.
    assert surprised["brows"] > 0.1 and 0.08 < surprised["open"] < 0.2 and surprised["lids"] > 0.01
    # Disgusted: brows lowered, lids narrowed, no smile, and the mouth not pressed as in anger.
    assert disgusted["brows"] < -0.01 and disgusted["lids"] < -0.01 and disgusted["corner_left"] < 0.01
    assert disgusted["width"] > angry["width"] + 0.05
    # Fearful: brows raised less than in surprise, mouth open and stretched wider than in surprise.
    assert 0.03 < fearful["brows"] < surprised["brows"] and fearful["open"] > 0.08
    assert fearful["width"] > surprised["width"] + 0.03
    # Contempt: one-sided, the subject's right corner up.
    assert contempt["corner_right"] > 0.05 and abs(contempt["corner_left"]) < 0.01


def test_readme_lists_the_registrys_controls():
    """README's control table, the CLI options and the edit docstring come from one registry."""
    import re
    from pathlib import Path

    from mien.controls.registry import CONTROLS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `(--[a-z-]+)` \| ([^|]+) \|", readme, flags=re.M)
    assert [(flag, rng.strip()) for flag, rng in rows] == [(c.flag, c.range_text) for c in CONTROLS]
    for c in CONTROLS:
        if c.kind != "amount":
            assert f"{c.name}: {c.help}" in mien.edit.__doc__


def test_docstring_section_lists_every_moving_control_with_its_range():
    from mien.controls.registry import CONTROLS, docstring_section

    lines = docstring_section("  ").splitlines()
    moving = [c for c in CONTROLS if c.kind != "amount"]
    assert lines == [f"  {c.name}: {c.help} ({c.range_text})" for c in moving]
    assert "  yaw: Turn the head; positive toward the image's right. (-15 to 15 degrees)" in lines


def test_the_opening_is_signed_along_the_face_and_ignores_its_roll(face):
    """Lips pressed past each other are not an open mouth; turning the photo changes
    nothing."""
    from mien.retarget import opening

    lm = face.landmarks.astype(np.float64)
    iod = face.interocular
    shut = lm.copy()
    shut[14, :2] = lm[13, :2] - 0.02 * (lm[14, :2] - lm[13, :2]) / np.linalg.norm(lm[14, :2] - lm[13, :2]) * iod
    assert opening(shut, iod) < 0
    opened = lm.copy()
    opened[14, :2] = lm[14, :2] + [0.0, 0.1 * iod]
    assert opening(opened, iod) == pytest.approx(opening(lm, iod) + 0.1, abs=0.01)
    angle = np.deg2rad(130)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = opened.copy()
    turned[:, :2] = opened[:, :2] @ rot.T
    assert opening(turned, iod) == pytest.approx(opening(opened, iod), abs=1e-9)

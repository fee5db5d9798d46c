"""Burst transfer (ExSHOT) on real photo pairs: behaviour, invariants, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import mien
from mien import mesh
from mien.errors import FaceMismatchError, InputError, NoFaceError
from mien.expression import align_to
from mien.detect import analyze
from mien.api import transfer


@pytest.fixture(scope="module")
def smile(pair):
    pose, expr = pair
    return transfer(pose, expr)


def _changed(a, b):
    return np.any(a != b, axis=2)


def test_result_has_the_pose_photos_size_and_dtype(pair, smile):
    assert smile.shape == pair[0].shape and smile.dtype == np.uint8
    assert _changed(smile, pair[0]).any()


def test_pixels_outside_the_face_region_are_bit_identical(pair, smile):
    pose = pair[0]
    f = analyze(pose)[0]
    changed = _changed(smile, pose)
    # Nothing changes beyond the support ring around the face outline.
    oval = f.points[list(mesh.FACE_OVAL)]
    centre = oval.mean(0)
    ring = centre + 1.45 * (oval - centre)
    allowed = np.zeros(pose.shape[:2], np.uint8)
    cv2.fillPoly(allowed, [np.round(ring).astype(np.int32)], 1)
    assert not (changed & (allowed == 0)).any()
    assert changed.mean() < 0.5


def test_the_smile_lands_the_mouth_where_the_expression_has_it(pair, smile):
    pose, expr = pair
    fp, fe = analyze(pose)[0], analyze(expr)[0]
    want = align_to(fe.landmarks, fp.landmarks)[list(mesh.LIPS_OUTER), :2]
    got = analyze(smile)[0].points[list(mesh.LIPS_OUTER)]
    before = np.linalg.norm(fp.points[list(mesh.LIPS_OUTER)] - want, axis=1).mean()
    after = np.linalg.norm(got - want, axis=1).mean()
    assert before > 8  # the smile really is a different mouth
    assert after < 0.35 * before


def test_strength_zero_returns_the_input_and_half_is_between(pair):
    pose, expr = pair
    assert np.array_equal(transfer(pose, expr, strength=0.0), pose)
    fp, fe = analyze(pose)[0], analyze(expr)[0]
    want = align_to(fe.landmarks, fp.landmarks)[list(mesh.LIPS_OUTER), :2]
    half = analyze(transfer(pose, expr, strength=0.5))[0].points[list(mesh.LIPS_OUTER)]
    start = fp.points[list(mesh.LIPS_OUTER)]
    progress = np.linalg.norm(half - start, axis=1).mean() / np.linalg.norm(want - start, axis=1).mean()
    assert 0.3 < progress < 0.7


def test_mouth_only_leaves_the_eyes_untouched(pair):
    pose, expr = pair
    out = transfer(pose, expr, regions="mouth")
    f = analyze(pose)[0]
    eyes = (f.mask("left_eye") > 0) | (f.mask("right_eye") > 0) | (f.mask("left_brow") > 0)
    changed = _changed(out, pose)
    assert not (changed & eyes).any()
    assert (changed & (f.mask("lips") > 0)).any()


def test_best_take_takes_eyes_and_mouth_from_different_photos(london):
    pose, happy = london("063")
    eyes_only = transfer(pose, {"eyes": happy})
    both = transfer(pose, {"eyes": pose, "mouth": happy})
    f = analyze(pose)[0]
    lips = f.mask("lips") > 0
    assert not _changed(eyes_only, pose)[lips].any()
    assert _changed(both, pose)[lips].mean() > 0.5


def test_a_different_person_is_refused_unless_forced(london):
    pose, _ = london("020")
    _, other = london("063")
    with pytest.raises(FaceMismatchError, match="different person"):
        transfer(pose, other)
    assert transfer(pose, other, force=True).shape == pose.shape


def test_no_face_and_tiny_faces_are_refused(pair, rng):
    pose, expr = pair
    noise = (rng.random((400, 400, 3)) * 255).astype(np.uint8)
    with pytest.raises(NoFaceError, match="no face found in the expression photo"):
        transfer(pose, noise)
    with pytest.raises(NoFaceError, match="no face found in the pose photo"):
        transfer(noise, expr)
    tiny = cv2.resize(pose, (140, 140), interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 400, 3), 200, np.uint8)
    canvas[100:240, 100:240] = tiny
    faces = analyze(canvas)
    assert len(faces) == 1 and faces[0].size < 64  # found, but too small to edit
    with pytest.raises(NoFaceError, match="px wide"):
        transfer(canvas, expr)


def test_a_much_smaller_expression_photo_is_refused(pair):
    pose, expr = pair
    small = cv2.resize(expr, (400, 400), interpolation=cv2.INTER_AREA)
    with pytest.raises(InputError, match="blurry"):
        transfer(pose, small)


def test_bad_arguments_get_clear_errors(pair):
    pose, expr = pair
    with pytest.raises(InputError, match="choose from"):
        transfer(pose, expr, regions="nose")
    with pytest.raises(InputError, match="between 0 and 1"):
        transfer(pose, expr, strength=1.5)
    with pytest.raises(InputError, match="face 3 does not exist"):
        transfer(pose, expr, face=3)
    with pytest.raises(InputError, match="uint8"):
        transfer(pose.astype(np.float32), expr)


def test_sixteen_bit_photos_are_edited_at_sixteen_bits(pair):
    pose, expr = pair
    deep = pose.astype(np.uint16) * 257
    out = transfer(deep, expr)
    assert out.dtype == np.uint16
    unchanged = ~_changed(out, deep)
    assert np.array_equal(out[unchanged], deep[unchanged])
    ref = transfer(pose, expr).astype(np.int32) * 257
    assert np.abs(out.astype(np.int32) - ref).mean() < 257 * 1.0


def test_two_people_pair_by_identity_even_when_swapped(london):
    a_pose, a_happy = london("020")
    b_pose, b_happy = london("063")
    half = lambda im: cv2.resize(im, (675, 675), interpolation=cv2.INTER_AREA)  # noqa: E731
    pose = np.concatenate([half(a_pose), half(b_pose)], axis=1)
    expr = np.concatenate([half(b_happy), half(a_happy)], axis=1)  # swapped sides
    out = transfer(pose, expr, face="all")
    fp = analyze(pose)
    fo = analyze(out)
    assert len(fp) == len(fo) == 2
    for before, after in zip(fp, fo):
        lips = list(mesh.LIPS_OUTER)
        assert np.linalg.norm(after.points[lips] - before.points[lips], axis=1).mean() > 3


def test_file_helper_keeps_metadata_and_refuses_to_overwrite(pair, data, tmp_path):
    src = data / "london" / "020"
    out = mien.transfer_files(src / "neutral.jpg", src / "happy.jpg", tmp_path / "out.jpg", regions="mouth")
    photo = mien.read_photo(out)
    assert photo.size == pair[0].shape[:2]
    # The photos are read and analysed in parallel threads: the same result as in memory.
    again = mien.transfer_files(src / "neutral.jpg", src / "happy.jpg", tmp_path / "again.png", regions="mouth")
    np.testing.assert_array_equal(mien.read_photo(again).pixels, mien.transfer(pair[0], pair[1], regions="mouth"))
    from PIL import Image

    assert "mien" in Image.open(out).getexif().get(0x0131, "")
    with pytest.raises(InputError, match="never overwrites"):
        mien.transfer_files(src / "neutral.jpg", src / "happy.jpg", src / "neutral.jpg")


def test_file_helper_with_the_identity_helper_process(pair, data, tmp_path, monkeypatch):
    """With the identity helper process running (one photo's descriptor there, the other's
    here), the file helper still gives the in-memory result and still refuses a stranger."""
    import time

    from mien import identity

    identity.start_helper()
    t0 = time.monotonic()
    while not identity.helper_ready():
        assert time.monotonic() - t0 < 20, "the identity helper process did not start"
        time.sleep(0.02)
    helper, asked = identity._helper, []
    embed = helper.embed
    monkeypatch.setattr(helper, "embed", lambda chips: asked.append(len(chips)) or embed(chips))
    london = data / "london"
    out = mien.transfer_files(london / "020" / "neutral.jpg", london / "020" / "happy.jpg", tmp_path / "out.png",
                              regions="mouth")
    assert asked  # the helper described at least one of the two faces
    np.testing.assert_array_equal(mien.read_photo(out).pixels, mien.transfer(pair[0], pair[1], regions="mouth"))
    with pytest.raises(FaceMismatchError, match="different person"):
        mien.transfer_files(london / "020" / "neutral.jpg", london / "063" / "happy.jpg", tmp_path / "no.png")
    assert not (tmp_path / "no.png").exists()
    # The check runs beside the render, yet errors come in the same order as in memory: a
    # stranger's face too small to give sharp texture is refused for its size first.
    small = tmp_path / "small.png"
    stranger = mien.read_photo(london / "063" / "happy.jpg").pixels
    mien.write_photo(small, cv2.resize(stranger, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA))
    with pytest.raises(InputError, match="blurry") as in_memory:
        mien.transfer(pair[0], mien.read_photo(small).pixels)
    with pytest.raises(InputError, match="blurry") as from_files:
        mien.transfer_files(london / "020" / "neutral.jpg", small, tmp_path / "no.png")
    assert str(from_files.value).split(" in the ")[0] == str(in_memory.value).split(" in the ")[0]


def test_an_ambiguous_pairing_is_refused(london):
    """One face in the pose photo, the same person twice, symmetrically, in the other."""
    pose, happy = london("020")
    half = cv2.resize(happy, (600, 600), interpolation=cv2.INTER_AREA)
    twins = np.concatenate([half, half], axis=1)
    centred = np.full((600, 1200, 3), 200, np.uint8)
    centred[:, 300:900] = cv2.resize(pose, (600, 600), interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceMismatchError, match="equally well"):
        transfer(centred, twins)


# --- Texture: what the expression photo brings, how it is lit, blended and seamed ---------
#
# Each test below guards one part of the texture path that a plain warp would not notice:
# that the texture is there at all, that it comes from the expression photo, that it is
# relit to the pose photo, that its seams are refined, and that strength blends it.

from mien import render  # noqa: E402
from mien.controls import Burst, Shot  # noqa: E402
from mien.scene import Layer, Scene  # noqa: E402
from mien.session import Session  # noqa: E402


@pytest.fixture(scope="module")
def mouth(sessions):
    """Mouth-only transfer: its scene, result, and the same geometry warped without texture."""
    sp, se = sessions
    state = sp.faces[0]
    scene = Burst((Shot(se, "mouth"),)).scene(state)
    out = render.render(sp.pixels, scene)
    warp = render.render(sp.pixels, Scene(state.face, scene.target))
    return scene, out, warp


def _polygon(shape, points):
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(points).astype(np.int32)], 1)
    return m > 0


def _alpha_full(p, shape, k=0):
    """A layer's texture weight on the full-resolution frame (0 off the grid)."""
    g = p.grid
    full = np.zeros(shape[:2], np.float32)
    full[g.y0:g.y0 + g.full_size[0], g.x0:g.x0 + g.full_size[1]] = g.upsample(p.layers[k].alpha)
    return full


def test_the_open_mouth_is_the_expression_photos_teeth_not_a_stretched_closed_mouth(sessions, mouth):
    sp, se = sessions
    scene, out, warp = mouth
    assert scene.layers and scene.layers[0].pixels is se.pixels
    inner = _polygon(out.shape, scene.target[list(mesh.LIPS_INNER), :2])
    fe = se.faces[0].face
    want = se.pixels[_polygon(se.pixels.shape, fe.points[list(mesh.LIPS_INNER)])].mean(0)
    got, plain = out[inner].mean(0), warp[inner].mean(0)
    # The warp alone shows stretched lips (red, dark); the expression photo shows teeth.
    assert np.linalg.norm(plain - want) > 30
    assert np.linalg.norm(got - want) < 0.25 * np.linalg.norm(plain - want)


def test_texture_is_relit_to_the_pose_photo(pair, sessions, mouth):
    """An expression photo under a strong orange cast still pastes skin-coloured texture."""
    sp, _ = sessions
    _, expr = pair
    cast = np.array([0.95, 0.7, 0.5])
    tinted = Session(np.clip(expr * cast, 0, 255).astype(np.uint8))
    state = sp.faces[0]
    scene, out, _ = mouth
    relit_scene = Burst((Shot(tinted, "mouth"),), force=True).scene(state)
    relit = render.render(sp.pixels, relit_scene)
    core = _alpha_full(render.plan(sp.pixels, scene), out.shape) > 0.9
    assert core.sum() > 5000
    ref = out[core].astype(np.float64).mean(0)
    unadapted = ref * cast  # what the tinted texture would look like pasted as it is
    err = np.abs(relit[core].astype(np.float64).mean(0) - ref)
    assert err.max() < 0.15 * np.abs(unadapted - ref).max()
    assert err.max() < 6


def test_refinement_moves_the_texture_near_its_seam(sessions, mouth):
    sp, se = sessions
    scene, out, _ = mouth
    state = sp.faces[0]
    plain = render.render(sp.pixels, Burst((Shot(se, "mouth"),), refine=False).scene(state))
    alpha = _alpha_full(render.plan(sp.pixels, scene), out.shape)
    seam = (alpha > 0.05) & (alpha < 0.95)
    diff = np.abs(out.astype(np.int32) - plain).max(axis=2)
    assert (diff[seam] > 2).mean() > 0.1
    assert np.array_equal(out[alpha == 0], plain[alpha == 0])


def test_half_strength_half_blends_the_mouth_texture(sessions):
    sp, se = sessions
    state = sp.faces[0]
    half = Burst((Shot(se, "mouth"),), strength=0.5).scene(state)
    assert half.layers and 0.45 < half.layers[0].weights.max() <= 0.5
    full_tex = Scene(state.face, half.target,
                     tuple(Layer(lay.pixels, lay.face, np.clip(2 * lay.weights, 0, 1), lay.aligned)
                           for lay in half.layers), refine=True)
    got = render.render(sp.pixels, half).astype(np.float64)
    warp = render.render(sp.pixels, Scene(state.face, half.target)).astype(np.float64)
    tex = render.render(sp.pixels, full_tex).astype(np.float64)
    inner = _polygon(got.shape, half.target[list(mesh.LIPS_INNER), :2])
    r, w, t = got[inner], warp[inner], tex[inner]
    assert np.abs(t - w).mean() > 20  # texture and warp really differ there
    share = ((r - w) * (t - w)).sum() / ((t - w) ** 2).sum()
    assert 0.25 < share < 0.75

"""The donor mouth library: a broad donor chosen once per face by its own lip shape, teeth at
natural size at any opening, and past the donor's own opening its lower part along the
lower lip with a dark oral cavity between."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mien import donors, mesh, render
from mien.controls import Request
from mien.scene import Scene
from mien.session import Session


@pytest.fixture(scope="module")
def session(pair):
    return Session(pair[0])


def _choosable():
    _, _, landmarks, names = donors._library()
    return [i for i, n in enumerate(names)
            if n not in donors.UNCHOSEN and donors.relative_opening(landmarks[i]) >= donors.BROAD]


def test_each_broad_donor_is_chosen_for_its_own_neutral_lips_and_only_broad_ones_are():
    _, _, landmarks, names = donors._library()
    assert len(names) >= 4 and landmarks.shape[1:] == (478, 3)
    neutral = donors._neutral_lips()
    assert neutral is not None and neutral.shape == (len(names), 40, 2)
    broad = _choosable()
    assert len(broad) >= 3
    for i in broad:
        assert donors.choose(neutral[i]) == i, names[i]
    for i, lm in enumerate(landmarks):
        assert donors.choose(lm) in broad, names[i]
        assert donors.choose(neutral[i]) in broad, names[i]


def test_the_choice_ignores_where_and_how_large_the_lips_are():
    neutral = donors._neutral_lips()
    a = np.radians(12)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    for i in (_choosable()[0], _choosable()[-1]):
        moved = 2.5 * neutral[i] @ rot.T + [300.0, -40.0]
        assert donors.choose(moved) == i


def test_the_four_test_faces_do_not_all_get_one_donor(london):
    """The choice follows the face's own mouth: the four test people (different sexes and
    lips) do not all get the same donor."""
    from mien.detect import analyze

    chosen = {donors.choose(analyze(london(p)[0])[0].landmarks) for p in ("020", "036", "063", "081")}
    assert len(chosen) >= 2


def test_a_narrower_target_shows_the_upper_teeth_at_natural_size():
    """ratio < 1: the donor's upper inner lip stays, its lower inner lip moves up by the
    ratio (the lower lip covers the rest), rather than the whole opening squashed."""
    _, _, landmarks, _ = donors._library()
    lm = landmarks[_choosable()[0]].astype(np.float64)
    half = donors.natural_size(lm, 0.5)
    for upper, lower in mesh.INNER_LIP_PAIRS:
        np.testing.assert_allclose(half[upper], lm[upper])
        np.testing.assert_allclose(half[lower, :2], 0.5 * (lm[upper, :2] + lm[lower, :2]))
    assert donors.relative_opening(half) == pytest.approx(0.5 * donors.relative_opening(lm), rel=1e-6)


def _opened(face, amount):
    """The face's landmarks with the lower lip and jaw moved down by ``amount`` interoculars."""
    lm = face.landmarks.astype(np.float64).copy()
    upper = {up for up, _ in mesh.INNER_LIP_PAIRS}
    lower = {lo for _, lo in mesh.INNER_LIP_PAIRS}
    below = lm[:, 1] > face.points[14, 1] + 0.02 * face.interocular  # lower lip, chin
    idx = sorted((lower | set(np.nonzero(below)[0])) - upper)
    lm[idx, 1] += amount * face.interocular
    return lm


def test_a_mouth_opened_past_the_donors_gets_a_dark_cavity(session):
    state = session.faces[0]
    face = state.face
    target = _opened(face, 0.3)
    weights = mesh.region_weights("mouth_interior")
    layer = donors.donor_layer(face, target, weights, state.donor)
    assert not layer.own_person
    assert layer.cavity > 1.5
    scene = Scene(face, target, (layer,))
    p = render.plan(session.pixels, scene)
    cavity = p.layers[0].cavity
    assert cavity is not None
    mask, colour = cavity
    assert (mask > 0.5).sum() > 200 and colour[mask > 0.5].max() < 0.25
    # Along the lower lip the donor's lower part (anchored at its own lower lip) shows, not
    # the cavity: lower teeth where the donor has them.
    _, low = p.layers[0].lower
    along = (low > 0.5) & (mask < 0.5) & (p.layers[0].alpha > 0.5)
    assert along.sum() > 50
    # Rendered: the lower part of the opening is dark, darker than the donor stretched.
    with_cavity = render.execute(session.pixels, p)
    no_cavity = dataclasses.replace(scene, layers=(dataclasses.replace(layer, lower_points=None),))
    without = render.render(session.pixels, no_cavity)
    g = p.grid
    low = np.zeros(with_cavity.shape[:2], bool)
    low[g.y0:g.y0 + g.full_size[0], g.x0:g.x0 + g.full_size[1]] = (
        g.upsample(mask * p.layers[0].alpha) > 0.9)
    assert low.sum() > 200
    dark = with_cavity[low].astype(np.float64).mean()
    assert dark < 50
    assert dark < without[low].astype(np.float64).mean() - 15


def test_an_emotion_that_opens_the_mouth_uses_the_chosen_donor(session):
    state = session.faces[0]
    scene = session.scene(Request.from_controls(emotion="surprised"))
    donor = [lay for lay in scene.layers if not lay.own_person]
    assert donor, "a surprised face with no reference photo takes its mouth interior from a donor"
    # The session's donor is chosen once, by the face's own lips (so a sweep keeps one).
    assert state.donor == donors.choose(state.face.landmarks)
    _, _, landmarks, _ = donors._library()
    assert np.array_equal(donor[0].pixels, donors._pixels(state.donor))
    assert 0 <= state.donor < len(landmarks)


@pytest.mark.parametrize("fraction", [0.5, 1.3, 2.5])
def test_the_donor_teeth_keep_their_natural_size_at_any_opening(session, fraction):
    """Whatever the target's opening, the donor's opening is mapped at one scale: its
    landmarks move along the opening (the top hidden under the upper lip, the bottom under
    the lower lip) but the span warped onto the target's opening is the target's opening
    relative to mouth width (old: a narrow target squeezed the donor's whole opening into
    it); past the donor's own opening a small stretch, then Layer.cavity takes the rest."""
    state = session.faces[0]
    face = state.face
    _, _, landmarks, _ = donors._library()
    own = landmarks[state.donor].astype(np.float64)
    closed = _opened(face, 0.0)
    width = np.linalg.norm(closed[61, :2] - closed[291, :2]) / face.interocular
    want = fraction * donors.relative_opening(own)
    target = _opened(face, (want - donors.relative_opening(closed)) * width)
    layer = donors.donor_layer(face, target, mesh.region_weights("mouth_interior"), state.donor)
    ratio = donors.relative_opening(target) / donors.relative_opening(own)
    assert ratio == pytest.approx(fraction, rel=0.05)
    scale = ratio if ratio <= 1 else max(1.0, ratio / donors.STRETCH)
    assert layer.cavity == pytest.approx(scale, rel=1e-6)
    got = layer.face.points.astype(np.float64)
    for upper, lower in mesh.INNER_LIP_PAIRS:
        span = own[lower, :2] - own[upper, :2]
        np.testing.assert_allclose(got[lower] - got[upper], scale * span, atol=1e-2)
        # The upper lip only ever hides the top of the donor's opening (never shows above it).
        along = (got[upper] - own[upper, :2]) @ span / max(span @ span, 1e-9)
        assert -1e-4 <= along <= donors.row_gap(state.donor) + 1e-4
        # The lower-anchored copy keeps the donor's own lower lip.
        np.testing.assert_allclose(layer.lower_points[lower], own[lower, :2], atol=1e-3)
    assert layer.teeth_end > 0 and layer.lower_start <= 1.0


def test_a_smile_shows_the_whole_upper_teeth_a_dropped_jaw_only_their_edge(session):
    """The upper teeth show from the upper lip to their edge, which stays where the face's
    own lips rest: a raised upper lip (smile) shows all of the donor's crown, a jaw dropped
    without raising the lip a strip under the lip and a cavity below."""
    state = session.faces[0]
    face = state.face
    weights = mesh.region_weights("mouth_interior")
    dropped = donors.donor_layer(face, _opened(face, 0.16), weights, state.donor)
    raised = _opened(face, 0.08)  # the same opening, half of it by raising the upper lip
    upper = [u for u, _ in mesh.INNER_LIP_PAIRS]
    raised[upper, 1] -= 0.08 * face.interocular
    smile = donors.donor_layer(face, raised, weights, state.donor)
    assert dropped.teeth_end < 0.6 and dropped.teeth_end < dropped.lower_start
    assert smile.teeth_end > dropped.teeth_end + 0.1


def _inner_lip_pixels(image, target):
    import cv2

    poly = np.round(target[list(mesh.LIPS_INNER), :2]).astype(np.int32)
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [poly], 1)
    return image[inside > 0]


def test_a_broad_smile_is_mostly_teeth_not_a_dark_cavity(london):
    """happy at intensity 1 opens the mouth like a real broad smile: the opening is filled
    by the upper teeth (as in real London smiles), not a strip of teeth over a dark hole
    (the old choice by the face's own closed lips and the cavity below the teeth: ~half
    of the opening dark)."""
    neutral, _ = london("036")
    s = Session(neutral)
    request = Request.from_controls(emotion="happy", intensity=1.0)
    scene = s.scene(request)
    opening = np.linalg.norm(scene.target[13, :2] - scene.target[14, :2]) / s.faces[0].face.interocular
    assert opening > 0.09
    px = _inner_lip_pixels(s.render(request), scene.target).astype(np.float64)
    assert len(px) > 500
    grey = px @ [0.299, 0.587, 0.114]
    dark = (grey < 70).mean()
    assert dark < 0.2, dark
    assert (grey > 140).mean() > 0.5


def test_one_donor_serves_a_whole_sweep(london):
    """Every intensity of a sweep takes the same donor (the choice sees the face's own
    landmarks), so the teeth do not jump from one person's to another's."""
    neutral, _ = london("036")
    s = Session(neutral)
    used = set()
    for intensity in (0.25, 0.5, 1.0, 1.5):
        scene = s.scene(Request.from_controls(emotion="happy", intensity=intensity))
        used |= {id(lay.pixels) for lay in scene.layers if not lay.own_person}
    assert len(used) == 1


def test_every_donor_carries_a_confident_near_neutral_eye_white():
    _, _, landmarks, names = donors._library()
    whites = donors._whites()
    assert len(whites) == len(names)
    for name, w in zip(names, whites):
        assert w.confidence >= 0.8, name
        assert w.colour.shape == (3,) and 0.15 < w.colour.mean() < 0.9, name
        assert w.colour.max() / w.colour.min() < 1.4, name  # London's studio light is near white
        assert w.skin.shape == (3,) and w.skin[0] > w.skin[2], name  # cheeks: redder than blue


def _cast(pixels, gains):
    from mien.image import from_float, to_float
    from mien.sclera import encode, linear

    return from_float(encode(linear(to_float(pixels)) * np.float32(gains)), pixels.dtype)


def _teeth_offset(pixels, request):
    from mien.evaluation.metrics import teeth_colour

    s = Session(pixels)
    scene = s.scene(request)
    assert any(not lay.own_person for lay in scene.layers)
    t = teeth_colour(s.render(request), dataclasses.replace(s.faces[0].face, landmarks=scene.target.astype(np.float32)))
    assert t is not None, "the edit shows teeth"
    return t.offset


@pytest.mark.parametrize("gains", [(1.30, 1.0, 0.55), (0.80, 0.97, 1.30)])
def test_donor_teeth_take_the_photos_white_balance(pair, gains):
    """Under a warm (tungsten) or cool cast, the donor's teeth sit against the photo's own
    eye whites as they do on the uncast photo (a grey brightness gain leaves them
    blue-grey on the warm photo: offset ~(-3, -20) here)."""
    request = Request.from_controls(aaa=0.8)
    plain = _teeth_offset(pair[0], request)
    cast = _teeth_offset(_cast(pair[0], gains), request)
    assert np.linalg.norm(cast - plain) < 5.0, (plain, cast)


def test_the_donor_colour_is_unchanged_where_the_light_is_the_donors(session):
    """On a photo whose eye whites and cheeks read exactly as the donor's, the donor's
    pixels are used as they are."""
    state = session.faces[0]
    face = state.face
    target = _opened(face, 0.15)
    layer = donors.donor_layer(face, target, mesh.region_weights("mouth_interior"), state.donor)
    same = dataclasses.replace(layer, target_white=layer.white)
    np.testing.assert_allclose(render._donor_gain(session.pixels, face, same), 1.0, atol=1e-6)
    p = render.plan(session.pixels, Scene(face, target, (same,)))
    assert np.allclose(p.layers[0].gain, 1.0, atol=1e-6)
    # While on the session's own photo the gain follows its eye whites.
    lit = session.faces[0].lit(Scene(face, target, (layer,))).layers[0]
    assert lit.target_white is state.sclera


def test_the_teeth_measure_reads_real_smiles_and_sees_blue_teeth(london):
    """metrics.teeth_colour: real teeth sit near the eye whites' colour (London smiles:
    a* within a few units, b* slightly positive); a closed mouth shows no teeth; teeth
    tinted blue read a negative b*."""
    from mien.detect import analyze
    from mien.evaluation.metrics import teeth_colour

    neutral, happy = london("020")
    face = analyze(happy)[0]
    t = teeth_colour(happy, face)
    assert t is not None and t.count > 100 and t.sclera_confidence > 0.8
    assert abs(t.offset[0]) < 6 and -2 < t.offset[1] < 12, t.offset
    assert teeth_colour(neutral, analyze(neutral)[0]) is None
    blue = happy.copy()
    mask = face.mask("mouth_interior") > 0
    blue[mask] = np.clip(blue[mask].astype(int) * [0.85, 0.95, 1.15], 0, 255).astype(np.uint8)
    assert teeth_colour(blue, face).offset[1] < t.offset[1] - 8


def test_a_mouth_that_already_shows_its_teeth_keeps_its_own(london):
    """A smiling or talking face opened wider keeps its own teeth (another person's would
    replace them): just under the upper lip, the edit shows the photo's own teeth, moved
    with the lip."""
    happy = london("020")[1]
    session = Session(happy)
    face = session.faces[0].face
    scene = session.scene(Request(emotion="surprised", intensity=1.0))
    mouth = [layer for layer in scene.layers if isinstance(layer, donors.DonorLayer)]
    assert mouth and mouth[0].pixels is session.pixels
    out = session.render(Request(emotion="surprised", intensity=1.0))
    iod = face.interocular
    below = np.array([0.0, 0.02 * iod])  # inside the upper teeth, under the lip's middle
    got, want = [], []
    for upper in (13, 82, 312):
        src = face.landmarks[upper, :2] + below
        dst = scene.target[upper, :2] + below
        want.append(happy[int(round(src[1])), int(round(src[0]))].astype(float))
        got.append(out[int(round(dst[1])), int(round(dst[0]))].astype(float))
    assert np.abs(np.mean(got, axis=0) - np.mean(want, axis=0)).max() < 25


def test_a_closed_mouth_opened_takes_a_donor(session):
    scene = session.scene(Request(emotion="surprised", intensity=1.0))
    mouth = [layer for layer in scene.layers if isinstance(layer, donors.DonorLayer)]
    assert mouth and mouth[0].pixels is not session.pixels


@pytest.mark.parametrize("degrees", [180, 120])
def test_a_turned_photo_shows_as_much_upper_tooth(session, degrees):
    """The teeth's extent is measured along the face's own vertical: the same raised upper
    lip on the photo turned upside down (or far) shows the same teeth, not none."""
    state = session.faces[0]
    face = state.face
    weights = mesh.region_weights("mouth_interior")
    raised = _opened(face, 0.08)
    raised[[u for u, _ in mesh.INNER_LIP_PAIRS], 1] -= 0.08 * face.interocular
    upright = donors.donor_layer(face, raised, weights, state.donor)
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    def turn(lm):
        out = np.asarray(lm, np.float64).copy()
        out[:, :2] = out[:, :2] @ rot.T + [2000.0, 2000.0]
        return out

    own = turn(face.landmarks).astype(np.float32)
    turned_face = dataclasses.replace(face, landmarks=own)
    turned = donors.donor_layer(turned_face, turn(raised), weights, state.donor)
    assert turned.teeth_end == pytest.approx(upright.teeth_end, abs=1e-6)
    assert turned.lower_start == pytest.approx(upright.lower_start, abs=1e-6)


class _NoWholeCopy(np.ndarray):
    """A photo that refuses to be converted whole (a float copy of a 24 MP photo on every
    preview costs ~0.6 GB and tens of ms)."""

    def astype(self, dtype, *args, **kwargs):
        assert self.size < 10_000, f"converted {self.shape} whole"
        return np.asarray(self).astype(dtype, *args, **kwargs)


def test_the_teeth_gap_reads_only_the_mouth(london):
    """donors.teeth_gap (run on every request that opens an already open mouth) samples the
    mouth's pixels without converting the whole photo, and reads the same."""
    from mien.detect import analyze

    smile = london("020")[1]
    face = analyze(smile)[0]
    want = donors.teeth_gap(np.asarray(smile), face.landmarks)
    assert donors.teeth_gap(smile.view(_NoWholeCopy), face.landmarks) == want
    assert 0.45 <= want <= 0.95


def test_an_open_smile_made_broader_draws_its_own_teeth_taller_not_a_gap(london):
    """Upper teeth are fixed to the skull: when the upper lip of a smile that already shows
    them rises, they do not ride up with it over a dark gap (0.49 of the opening dark
    before); the visible crown is drawn taller (up to OWN_STRETCH)."""
    import cv2

    happy = london("020")[1]
    session = Session(happy)
    request = Request(emotion="happy", intensity=1.0)
    scene, out = session.scene(request), session.render(request)
    poly = scene.target[list(mesh.LIPS_INNER), :2].round().astype(np.int32)
    inside = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(inside, [poly], 1)
    grey = out.astype(float) @ [0.299, 0.587, 0.114]
    assert ((grey < 60) & (inside > 0)).sum() / inside.sum() < 0.44

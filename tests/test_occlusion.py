"""Per-frame occlusion (mien.occlusion): synthetic occluders over a London mouth, real
occluded frames of the talking clip (tests/data/occlusion: 0.6x crops of
talking_woman_pexels.mp4, Wolfgang Lange on Pexels), the track's reference and its drift
limits."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest

import mien
from mien import detect, mesh
from mien.errors import InputError
from mien.occlusion import OCCLUDED, FaceAppearance, cues, face_flag, occlusion, template

pytest.importorskip("ai_edge_litert")


def _video_sized(pixels: np.ndarray, face_width: float = 150.0):
    """The photo shrunk so its face is ~150 px wide (as in a 640x360 clip), and its face."""
    face = detect.analyze(pixels)[0]
    f = face_width / face.size
    small = np.ascontiguousarray(cv2.resize(pixels, None, fx=f, fy=f, interpolation=cv2.INTER_AREA))
    return small, detect.analyze(small)[0]


def _hand(pixels: np.ndarray, face, skin: np.ndarray) -> np.ndarray:
    """Four skin-textured, cylinder-shaded finger strips across the mouth, with a soft shadow."""
    out = pixels.astype(np.float32)
    h, w = pixels.shape[:2]
    p = face.points.astype(np.float64)
    s = face.size
    m = p[list(mesh.LIPS_OUTER)].mean(0)
    d = np.array([np.cos(np.radians(-25)), np.sin(np.radians(-25))])
    n = np.array([-d[1], d[0]])
    fw, fl = 0.14 * s, 0.7 * s
    mask = np.zeros((h, w), np.float32)
    shade = np.ones((h, w), np.float32)
    for j in range(4):
        c = m + n * (j - 1.5) * fw
        one = np.zeros((h, w), np.uint8)
        a, b = c - d * fl / 2, c + d * fl / 2
        cv2.line(one, tuple(int(v) for v in a.round()), tuple(int(v) for v in b.round()), 1, int(fw), cv2.LINE_AA)
        prof = np.clip(cv2.distanceTransform(one, cv2.DIST_L2, 3) / (fw / 2), 0, 1)
        shade = np.where(one > 0, np.minimum(shade, 0.7 + 0.3 * np.sqrt(prof)), shade)
        mask = np.maximum(mask, one.astype(np.float32))
    layer = cv2.resize(skin, (w, h)).astype(np.float32) * 1.1 * shade[..., None]
    mask = cv2.GaussianBlur(mask, (0, 0), 0.8)
    shadow = cv2.GaussianBlur(np.roll(mask, (3, 3), (0, 1)), (0, 0), 6)
    out *= (1 - 0.35 * shadow * (1 - mask))[..., None]
    out = out * (1 - mask[..., None]) + layer * mask[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _dark_object(pixels: np.ndarray, face) -> np.ndarray:
    out = pixels.copy()
    m = face.points[list(mesh.LIPS_OUTER)].mean(0)
    axes = (int(0.3 * face.size), int(0.2 * face.size))
    cv2.ellipse(out, tuple(int(v) for v in m.round()), axes, 10, 0, 360, (30, 34, 40), -1, cv2.LINE_AA)
    return out


@pytest.fixture(scope="module")
def london_faces(london):
    """020 neutral and happy at video size, and a cheek-skin patch of another person (036)."""
    neutral, happy = london("020")
    other, _ = london("036")
    n, nface = _video_sized(neutral)
    h, hface = _video_sized(happy)
    o, oface = _video_sized(other)
    c = oface.points[50].round().astype(int)
    r = int(0.09 * oface.size)
    skin = np.ascontiguousarray(o[c[1] - r:c[1] + r, c[0] - r:c[0] + r])
    return n, nface, h, hface, skin


@pytest.fixture(scope="module")
def reference(london_faces):
    """The track's reference learned from the neutral photo (a still 'video' of it)."""
    n, nface, *_ = london_faces
    appearance = FaceAppearance()
    for _ in range(3):
        appearance.update(n, nface)
    return appearance


def _refit(pixels, face):
    """The mesh refitted where the face was, as tracking does."""
    return detect.track(pixels, face) or face


def test_clean_photo_is_clear_with_and_without_reference(data, london_faces, reference):
    _, _, h, hface, _ = london_faces
    # another expression than the reference's (neutral -> smile) is not an occlusion
    assert occlusion(h, hface, copy.deepcopy(reference)) < 0.2
    assert occlusion(h, hface, None) < 0.2
    for i in (0, 300):  # the clip's clear frames, each on its own
        pixels = _frame(data, i)
        assert occlusion(pixels, detect.analyze(pixels)[0], None) < 0.2


def test_synthetic_hand_over_mouth_is_flagged(london_faces, reference):
    _, _, h, hface, skin = london_faces
    covered = _hand(h, hface, skin)
    face = _refit(covered, hface)
    appearance = copy.deepcopy(reference)
    assert occlusion(covered, face, appearance) >= OCCLUDED
    # both the mesh's confidence and the lips' colour see it
    assert appearance.last_cues["flag"] > 0.5
    assert appearance.last_cues["lips"] > 0.5


def test_dark_object_over_mouth_is_flagged(london_faces, reference):
    _, _, h, hface, _ = london_faces
    covered = _dark_object(h, hface)
    face = _refit(covered, hface)
    appearance = copy.deepcopy(reference)
    assert occlusion(covered, face, appearance) >= OCCLUDED
    # the area cue: the lower face no longer looks like the track's own face
    assert appearance.last_cues["area"] > 0.5


def _frame(data, i: int) -> np.ndarray:
    return mien.read_photo(data / "occlusion" / f"talking_{i:03d}.jpg").pixels


@pytest.fixture(scope="module")
def talking_track(data):
    """The reference learned from four clear frames (0-30, crying, eyes closed), tracked."""
    appearance = FaceAppearance()
    face = None
    for i in (0, 10, 20, 30):
        pixels = _frame(data, i)
        face = detect.track(pixels, face) if face is not None else detect.analyze(pixels)[0]
        assert occlusion(pixels, face, appearance) < OCCLUDED
        appearance.update(pixels, face)
    return appearance, face


@pytest.mark.parametrize("i", [75, 110, 180, 215])
def test_real_hand_over_face_is_flagged(data, talking_track, i):
    reference, last = talking_track
    pixels = _frame(data, i)
    face = detect.track(pixels, last)
    assert face is not None  # MediaPipe still fits a face behind the hand
    assert occlusion(pixels, face, copy.deepcopy(reference)) >= OCCLUDED


@pytest.mark.parametrize("i", [75, 110])
def test_hand_over_the_whole_mouth_is_flagged_without_reference(data, i):
    """A track that starts with the hand on: the generic cues (lips hardly redder than the
    skin, a low face flag) still see a hand covering both halves of the mouth."""
    pixels = _frame(data, i)
    face = detect.analyze(pixels)[0]
    assert occlusion(pixels, face, None) >= OCCLUDED
    assert occlusion(pixels, face, FaceAppearance()) >= OCCLUDED


def test_synthetic_hand_is_flagged_without_reference(london_faces):
    _, _, h, hface, skin = london_faces
    covered = _hand(h, hface, skin)
    assert occlusion(covered, _refit(covered, hface), None) >= OCCLUDED


def test_real_clear_frame_later_is_clear(data, talking_track):
    # frame 300: smiling, eyes open, head turned: another expression and pose than the
    # reference's crying frames, and no hand
    reference, last = talking_track
    pixels = _frame(data, 300)
    face = detect.track(pixels, last) or detect.analyze(pixels)[0]
    assert occlusion(pixels, face, copy.deepcopy(reference)) < OCCLUDED


def test_hysteresis_keeps_a_borderline_frame_occluded(london_faces, reference):
    _, _, h, hface, skin = london_faces
    appearance = copy.deepcopy(reference)
    fresh = copy.deepcopy(reference)
    covered = _hand(h, hface, skin)
    face = _refit(covered, hface)
    assert occlusion(covered, face, appearance) >= OCCLUDED
    # the next frame: the clean photo. The prior adds the sticky evidence, the cues are the same
    clean = h.copy()
    after = occlusion(clean, hface, appearance)
    assert appearance.last_cues["previous"] > 0
    assert after == pytest.approx(1 - (1 - occlusion(clean, hface, fresh)) * (1 - appearance.last_cues["previous"]))
    # scoring the same frame again does not compound the prior
    assert occlusion(clean, hface, appearance) == pytest.approx(after)


def test_updates_with_occluded_frames_drift_slowly(london_faces, reference):
    """A reference fed occluded frames by mistake (partial occlusions scored clear) learns
    their low face flag only in steps: each enters at most _FLAG_STEP below the reference."""
    _, _, h, hface, skin = london_faces
    covered = _hand(h, hface, skin)
    face = _refit(covered, hface)
    appearance = copy.deepcopy(reference)
    before = appearance.flag
    logit = face_flag(covered, face)[0]
    assert before - logit > 8  # the hand drops the flag a lot
    for _ in range(10):
        appearance.update(covered, face)
    # ten bad frames of 13 in the history: without the step the reference would be theirs
    assert before - appearance.flag < 4.5
    assert occlusion(covered, face, appearance) >= OCCLUDED


def test_features_are_computed_once_per_frame(london_faces, monkeypatch):
    from mien import occlusion as module

    _, _, h, hface, _ = london_faces
    calls = []
    real = module._features
    monkeypatch.setattr(module, "_features", lambda p, f: calls.append(1) or real(p, f))
    appearance = FaceAppearance()
    occlusion(h, hface, appearance)
    appearance.update(h, hface)
    assert len(calls) == 1


def test_face_flag_crop_matches_the_mesh(london_faces):
    """The directly run landmark network, on MediaPipe's tracking crop, lands on mien's mesh."""
    _, _, h, hface, _ = london_faces
    logit, points = face_flag(h, hface)
    assert logit > 15
    err = np.linalg.norm(points - hface.points[: mesh.N_SURFACE], axis=1) / hface.interocular
    assert np.median(err) < 0.04


def test_template_is_the_canonical_face(london_faces):
    """Two photos of one face (another expression, another head position) warp to nearly the
    same template; the same photo sampled through a mesh shifted by a tenth of the face
    does not."""
    from mien.face import Face

    n, nface, h, hface, _ = london_faces
    t = template(h, hface)
    assert t.shape == (56, 48, 3) and t.dtype == np.uint8
    shifted = Face(0, hface.landmarks + np.float32([0.1 * hface.size, 0, 0]), hface.box, 1.0, hface.image_size)
    a, b, c = (cv2.cvtColor(x, cv2.COLOR_RGB2Lab).astype(np.float32)[12:44, 10:38]
               for x in (t, template(n, nface), template(h, shifted)))
    assert np.abs(a - b).mean() < 0.5 * np.abs(a - c).mean()


def test_bad_input(london_faces):
    _, _, h, hface, _ = london_faces
    with pytest.raises(InputError):
        occlusion(h, "face", None)
    with pytest.raises(InputError):
        occlusion(h[:100], hface, None)
    with pytest.raises(InputError):
        occlusion(h.astype(np.float32), hface, None)
    with pytest.raises(InputError):
        cues(h, hface, appearance="reference")


def test_a_lasting_change_of_light_is_learned_but_a_hand_is_not(london_faces, reference):
    """Frames flagged by the template alone (half the face darkened: no hand, the face flag
    and the lips calm) teach the reference slowly, so the track is released (fails without
    the creep); a hand over the mouth stays occluded however long it stays."""
    _, _, h, hface, skin = london_faces
    appearance = copy.deepcopy(reference)
    for _ in range(3):
        appearance.update(h, hface)
    x = np.arange(h.shape[1])
    centre = hface.centre[0]
    gain = 1 - 0.6 * np.clip((x - centre) / (0.3 * hface.size), 0, 1)[None, :, None]
    relit = np.clip(h * gain + 0.5, 0, 255).astype(np.uint8)
    first = occlusion(relit.copy(), hface, appearance)
    assert appearance.last_cues["area"] >= 0.5 and first >= OCCLUDED
    scores = [occlusion(relit.copy(), hface, appearance) for _ in range(150)]
    assert scores[-1] < OCCLUDED

    covered = _hand(h, hface, skin)
    face = _refit(covered, hface)
    held = copy.deepcopy(reference)
    scores = [occlusion(covered.copy(), face, held) for _ in range(150)]
    assert min(scores) >= OCCLUDED


def test_finger_edges_over_a_cheek_are_new_edges(london_faces):
    """Dark gaps between fingers of the face's own colour: no colour change to speak of, but
    edges where the track's face has none."""
    _, _, h, hface, _ = london_faces
    appearance = FaceAppearance()
    for _ in range(3):
        appearance.update(h, hface)
    gaps = h.copy()
    p = hface.points
    s = hface.size
    start = p[[205, 50, 101]]  # the subject's right cheek, below the eye to the mouth's side
    for j in range(5):
        a = start.mean(0) + np.array([-0.15 * s, (j - 1) * 0.09 * s])
        b = a + np.array([0.4 * s, 0.12 * s])
        line = np.zeros(h.shape[:2], np.uint8)
        cv2.line(line, tuple(int(v) for v in a.round()), tuple(int(v) for v in b.round()), 1, 3, cv2.LINE_AA)
        gaps[line > 0] = (gaps[line > 0] * 0.55).astype(np.uint8)
    occlusion(gaps, hface, appearance)
    assert appearance.last_cues["edges"] >= 0.5
    assert appearance.last_cues["area"] < 0.5
    clean = FaceAppearance()
    for _ in range(3):
        clean.update(h, hface)
    occlusion(h.copy(), hface, clean)
    assert clean.last_cues["edges"] == 0


@pytest.mark.parametrize("turns", [1, 2])
def test_turned_frames_score_alike(london_faces, turns):
    """The flag crop is levelled by the eyes and the template follows the mesh: a frame
    turned by 90 or 180 degrees scores as the upright one."""
    _, _, h, hface, skin = london_faces
    covered = _hand(h, hface, skin)
    for image, expect_occluded in ((h, False), (covered, True)):
        turned = np.ascontiguousarray(np.rot90(image, turns))
        face = detect.analyze(turned)[0]
        assert (occlusion(turned, face, None) >= OCCLUDED) == expect_occluded

"""The identity check (mien.identity) on the committed test photos."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from mien import identity
from mien.detect import analyze


def _face(pixels):
    faces = analyze(pixels)
    assert faces, "no face found"
    return max(faces, key=lambda f: f.size)


@pytest.fixture(scope="module")
def described(london, lisa):
    """name -> (pixels, face, descriptor) for the photos the tests compare."""
    photos = {}
    for person in ("020", "036", "063", "081"):
        neutral, happy = london(person)
        photos[f"{person} neutral"], photos[f"{person} happy"] = neutral, happy
    for i, px in enumerate(lisa, 1):
        photos[f"lisa{i}"] = px
    out = {}
    for name, px in photos.items():
        face = _face(px)
        out[name] = (px, face, identity.descriptor(px, face))
    return out


def _dist(described, a, b):
    return identity.descriptor_distance(described[a][2], described[b][2])


@pytest.mark.parametrize("a, b", [("020 neutral", "020 happy"), ("036 neutral", "036 happy"),
                                  ("063 neutral", "063 happy"), ("081 neutral", "081 happy"),
                                  ("lisa1", "lisa3"), ("lisa2", "lisa4")])
def test_same_person_is_accepted(described, a, b):
    d = _dist(described, a, b)
    assert d <= identity.SAME_PERSON
    assert identity.same_person(described[a][2], described[b][2])
    # with a margin: these are easy pairs (near-frontal, a mild expression)
    assert d < 0.8 * identity.SAME_PERSON, d


@pytest.mark.parametrize("a, b", [("020 neutral", "063 happy"), ("020 happy", "063 neutral"),
                                  ("036 neutral", "081 happy"), ("036 happy", "081 neutral"),
                                  ("lisa1", "020 neutral"), ("lisa3", "063 happy")])
def test_different_people_are_refused(described, a, b):
    d = _dist(described, a, b)
    assert d > identity.SAME_PERSON, d
    assert not identity.same_person(described[a][2], described[b][2])


def test_distance_is_the_descriptor_distance(described):
    pa, fa, da = described["020 neutral"]
    pb, fb, db = described["020 happy"]
    assert identity.distance(pa, fa, pb, fb) == pytest.approx(np.linalg.norm(da - db))


def test_descriptor_is_deterministic(described):
    px, face, d = described["020 happy"]
    again = identity.descriptor(px, face)
    assert again.shape == (128,) and again.dtype == np.float64
    np.testing.assert_array_equal(again, d)


def test_mirrored_photo_is_the_same_person(described):
    for name in ("020 happy", "lisa1"):
        px, face, d = described[name]
        mirrored = np.ascontiguousarray(px[:, ::-1])
        dm = identity.descriptor(mirrored, _face(mirrored))
        # The descriptor averages the face with its mirror image, so a mirrored photo
        # describes (almost) the same face: far closer than two photos of one person.
        assert identity.descriptor_distance(d, dm) < 0.08, name


def _scaled(face, factor, size):
    lm = face.landmarks.copy()
    lm[:, :2] = (lm[:, :2] + 0.5) * factor - 0.5
    lm[:, 2] *= factor
    return replace(face, landmarks=lm, image_size=size)


def test_large_photo_gives_the_same_descriptor_from_a_crop(described, monkeypatch):
    px, face, d = described["020 happy"]
    side = 3464  # 12 MP
    big = cv2.resize(px, (side, side), interpolation=cv2.INTER_CUBIC)
    big_face = _scaled(face, side / px.shape[1], (side, side))
    converted = []
    real = identity.to_uint8
    monkeypatch.setattr(identity, "to_uint8", lambda a: converted.append(a.shape) or real(a))
    for pixels in (big, (big.astype(np.uint16) * 257)):
        db = identity.descriptor(pixels, big_face)
        assert identity.descriptor_distance(d, db) < 0.05
    # only a crop around the face is read, not the 12 MP photo
    assert converted and max(h * w for h, w, _ in converted) < 0.02 * side * side
    # and a re-detected face on the large photo agrees too
    monkeypatch.undo()
    assert identity.descriptor_distance(d, identity.descriptor(big, _face(big))) < 0.08


def test_sixteen_bit_photo_matches_eight_bit(described):
    px, face, d = described["036 neutral"]
    d16 = identity.descriptor(px.astype(np.uint16) * 257, face)
    assert identity.descriptor_distance(d16, d) < 1e-3  # at most rounding apart


def test_chip_is_cut_like_dlibs_own(described):
    """The network was trained on dlib's chips: for a frontal face, the chip (least-squares
    scale) matches dlib.get_face_chip on the same five points to within resampling."""
    dlib, _ = identity._model()
    for name in ("063 neutral", "020 happy"):
        px, face, _ = described[name]
        pts = face.points[list(identity._FIVE)]
        shape = dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1),
                                           [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
        theirs = dlib.get_face_chip(px, shape, size=identity.CHIP_SIZE, padding=identity.PADDING)
        m = identity._transforms(face, frontal_scale=False)[0]
        ours = identity.chip(px, face, transform=m)
        assert ours.shape == (identity.CHIP_SIZE, identity.CHIP_SIZE, 3) and ours.dtype == np.uint8
        assert np.abs(ours.astype(float) - theirs).mean() < 3.0, name
        # the default chip differs only by the frontal scale, which barely moves a frontal face
        assert np.abs(identity.chip(px, face).astype(float) - theirs).mean() < 4.0, name


def test_face_at_the_photo_edge_still_works(described):
    px, face, d = described["081 neutral"]
    x0 = int(face.points[:, 0].min()) - 5
    cut = np.ascontiguousarray(px[:, x0:])
    moved = replace(face, landmarks=face.landmarks - np.array([x0, 0, 0], np.float32),
                    image_size=cut.shape[:2])
    dc = identity.descriptor(cut, moved)
    assert np.isfinite(dc).all()
    assert identity.same_person(d, dc)


def _turned(face, yaw_degrees):
    """The face's landmarks turned in 3D about a vertical axis behind the face."""
    lm = face.landmarks.astype(np.float64)
    c = lm.mean(axis=0) + [0.0, 0.0, 0.5 * face.size]
    a = np.radians(yaw_degrees)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return replace(face, landmarks=((lm - c) @ rot.T + c).astype(np.float32))


def test_turned_face_keeps_the_chip_scale(described):
    _, face, _ = described["020 happy"]

    def scale(f, **kw):
        m = identity._transforms(f, **kw)[0]
        return np.sqrt(abs(np.linalg.det(m[:, :2])))

    for yaw, zoom in ((-45, 1.1), (-30, 1.04), (30, 1.04), (45, 1.1)):
        turned = _turned(face, yaw)
        # a least-squares fit of the five points zooms in as the eyes foreshorten ...
        assert scale(turned, frontal_scale=False) > zoom * scale(face, frontal_scale=False)
        # ... the chip's scale, fitted to the points turned back, does not
        assert scale(turned) == pytest.approx(scale(face), rel=0.02)


def test_photo_turned_like_a_card_is_still_the_same_person(described):
    """A flat turn of 45 degrees (foreshortening), relit: same person, not a stranger."""
    px, face, _ = described["020 happy"]
    h, w = px.shape[:2]
    f, a = 2.5 * w, np.radians(45)
    cx, cy = face.centre
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64)
    x = (corners[:, 0] - cx) * np.cos(a)
    z = f + (corners[:, 0] - cx) * np.sin(a)
    dst = np.column_stack([cx + f * x / z, cy + f * (corners[:, 1] - cy) / z])
    hom = cv2.getPerspectiveTransform(corners.astype(np.float32), dst.astype(np.float32))
    turned = cv2.warpPerspective(px, hom, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    turned = np.clip(turned * np.array([0.8, 0.75, 0.6]), 0, 255).astype(np.uint8)  # dim, warm
    dt = identity.descriptor(turned, _face(turned))
    assert identity.same_person(dt, described["020 neutral"][2])
    for other in ("063 neutral", "036 neutral", "081 happy"):
        assert not identity.same_person(dt, described[other][2]), other


def _ready_helper(timeout=20.0):
    import time

    identity.start_helper()
    t0 = time.monotonic()
    while not identity.helper_ready():
        assert time.monotonic() - t0 < timeout, "the identity helper process did not start"
        time.sleep(0.02)
    return identity._helper


def test_helper_process_gives_the_same_descriptors(described):
    """The helper process runs the same network on the same chips: the same numbers."""
    from concurrent.futures import ThreadPoolExecutor

    names = ("020 neutral", "036 happy", "lisa2")
    plain = {n: identity.plain_descriptor(*described[n][:2]) for n in names}
    helper = _ready_helper()
    for n in names:
        np.testing.assert_array_equal(helper.embed(identity._chips(described[n][0],
                                                                   [identity._transforms(described[n][1])[0]])),
                                      plain[n][None])
    # Several threads at once: one in the helper, the others here, each its own face's.
    with ThreadPoolExecutor(max_workers=3) as pool:
        found = list(pool.map(lambda n: identity.plain_descriptor(*described[n][:2]), names * 2))
    for n, d in zip(names * 2, found):
        np.testing.assert_array_equal(d, plain[n])
    np.testing.assert_array_equal(identity.descriptor(*described["lisa2"][:2]), described["lisa2"][2])


def test_a_dead_helper_falls_back_to_this_process(described, monkeypatch):
    px, face, _ = described["063 happy"]
    want = identity.plain_descriptor(px, face)
    helper = _ready_helper()
    helper.proc.kill()
    helper.proc.wait()
    assert not identity.helper_ready()
    # Even when it dies between the readiness check and the request.
    monkeypatch.setattr(helper, "usable", lambda: True)
    np.testing.assert_array_equal(identity.plain_descriptor(px, face), want)
    assert helper.failed
    monkeypatch.undo()
    assert _ready_helper() is not helper  # a new one replaces it

"""The Session: one analysis per photo, cached per-face state, any request rendered on it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import mien.session
from mien.controls import Burst, Request, Shot
from mien.errors import FaceMismatchError, InputError, MienError, NoFaceError
from mien.scene import Scene
from mien.session import Session


@pytest.fixture(scope="module")
def session(london):
    return Session(london("020")[0])


def test_a_session_analyses_its_photo_once(london, monkeypatch):
    neutral, happy = london("020")
    calls = []
    real = mien.session.analyze
    monkeypatch.setattr(mien.session, "analyze", lambda px: calls.append(1) or real(px))
    s = Session(neutral)
    shot = Session(happy)
    assert len(calls) == 2
    first = s.render(Request.from_controls(emotion="happy"))
    s.render(Request.from_controls(smile=0.5, blink=0.3))
    s.preview(Request.from_controls(aaa=0.5))
    s.render(Burst((Shot(shot, "mouth"),)))
    assert len(calls) == 2  # nothing analysed again
    assert np.array_equal(first, s.render(Request.from_controls(emotion="happy")))


def test_per_face_state_is_computed_once(session):
    state = session.faces[0]
    assert state.code is state.code and state.frame is state.frame
    assert state.descriptor is state.descriptor
    assert state.preview_grid(256) is state.preview_grid(256)
    assert state.descriptor.shape == (128,)


def test_scene_shows_what_a_request_asks(session):
    scene = session.scene(Request.from_controls(emotion="surprised"))
    assert isinstance(scene, Scene) and scene.face is session.faces[0].face
    assert scene.target.shape == (478, 3)
    lower_lip, upper_lip = scene.target[14, 1], scene.target[13, 1]
    assert lower_lip - upper_lip > np.ptp(scene.face.points[[13, 14], 1]) + 2  # the mouth opens
    assert scene.layers  # an opened mouth brings mouth-interior texture
    empty = session.scene(Request())
    assert empty.changes_nothing
    assert session.render(Request()) is session.pixels


def test_one_face_chooser_with_structured_errors(session, rng):
    with pytest.raises(InputError) as info:
        session.choose(3)
    assert info.value.param == "face" and "0 to 0" in info.value.allowed
    with pytest.raises(InputError, match="number from 0 or 'all'"):
        session.choose("left")
    assert [s.index for s in session.choose("all")] == [0]
    with pytest.raises(NoFaceError, match="no face found in the photo"):
        Session(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).choose(0)


def test_bad_control_values_name_the_parameter_and_what_is_allowed():
    with pytest.raises(InputError) as info:
        Request.from_controls(yaw=40)
    assert info.value.param == "yaw" and info.value.allowed == "-15 to 15 degrees"
    with pytest.raises(InputError) as info:
        Request.from_controls(emotion="joyful")
    assert info.value.param == "emotion" and "happy" in info.value.allowed
    with pytest.raises(InputError) as info:
        Request.from_controls(au={"99": 1})
    assert info.value.param == "au"
    with pytest.raises(MienError):
        Request.from_controls(wiggle=1.0)


def test_threads_rendering_different_sessions_match_one_thread(london):
    photos = [london(p)[0] for p in ("020", "063", "036")]
    # The burst refines its seams with optical flow (a per-thread OpenCV object).
    requests = [Request.from_controls(emotion="happy"), Request.from_controls(aaa=0.8, blink=0.4),
                Burst((Shot(Session(london("036")[1]), "all"),))]
    sessions = [Session(p) for p in photos]
    alone = [s.render(r) for s, r in zip(sessions, requests)]
    fresh = [Session(p) for p in photos]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda sr: sr[0].render(sr[1]), zip(fresh, requests)))
    for a, b in zip(alone, together):
        assert np.array_equal(a, b)


def test_threads_sharing_one_session_get_the_same_previews(session):
    requests = [Request.from_controls(smile=v) for v in (0.2, 0.5, 0.8, 1.0)]
    alone = [session.preview(r) for r in requests]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(session.preview, requests))
    for a, b in zip(alone, together):
        assert np.array_equal(a, b)


def test_identity_check_needs_the_mirrored_pass_only_near_the_threshold(london, monkeypatch):
    from mien import identity

    a, b = (Session(px).faces[0] for px in london("020"))
    assert a.check_same_person(b, "shot") < identity.SAME_PERSON - identity.MIRROR_SPREAD
    assert "descriptor" not in a.__dict__ and "descriptor" not in b.__dict__  # one pass each
    stranger = Session(london("063")[1]).faces[0]
    with pytest.raises(FaceMismatchError, match="different person"):
        a.check_same_person(stranger, "shot")
    # With the band widened so that every pair takes the full path, the decision is the
    # same, now made on the mirror-averaged descriptors.
    monkeypatch.setattr(identity, "MIRROR_SPREAD", 10.0)
    a2, s2 = Session(london("020")[0]).faces[0], Session(london("063")[1]).faces[0]
    with pytest.raises(FaceMismatchError, match="different person"):
        a2.check_same_person(s2, "shot")
    assert "descriptor" in a2.__dict__
    full = float(np.linalg.norm(a2.descriptor - s2.descriptor))
    assert full > identity.SAME_PERSON

"""The donor mouth library: choice by lip shape, and a dark oral cavity past the donor's
own opening."""

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


def test_each_donor_is_chosen_for_its_own_lip_shape():
    _, _, landmarks, names = donors._library()
    assert len(names) >= 4 and landmarks.shape[1:] == (478, 3)
    for i, lm in enumerate(landmarks):
        assert donors.choose(lm) == i, names[i]


def test_the_choice_ignores_where_and_how_large_the_lips_are():
    _, _, landmarks, _ = donors._library()
    a = np.radians(12)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    for i in (1, len(landmarks) - 1):
        moved = landmarks[i].copy()
        moved[:, :2] = 2.5 * moved[:, :2] @ rot.T + [300.0, -40.0]
        assert donors.choose(moved) == i


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
    assert (mask > 0.5).sum() > 200 and colour.max() < 0.25
    # Rendered: the lower part of the opening is dark, darker than the donor stretched.
    with_cavity = render.execute(session.pixels, p)
    no_cavity = dataclasses.replace(scene, layers=(dataclasses.replace(layer, cavity=0.0),))
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

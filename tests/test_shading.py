"""Smile shading: the learned ratio image darkens the nasolabial folds and brightens the
raised cheeks, and the renderer applies it with the sign and size the image says."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mien import render, shading
from mien.controls import Request
from mien.scene import Scene
from mien.session import Session

#: Landmarks along the nasolabial folds (both sides).
NASOLABIAL = [206, 426, 203, 423, 92, 322]


def _at(image, points):
    """``image`` sampled at the nearest pixel to each ``(x, y)`` point."""
    ij = np.round(points).astype(int)
    return image[np.clip(ij[:, 1], 0, image.shape[0] - 1), np.clip(ij[:, 0], 0, image.shape[1] - 1)]


@pytest.fixture(scope="module")
def ratio():
    """The learned log ratio (grey) at each landmark of the texture frame."""
    return _at(shading.smile_log_ratio().mean(axis=2), shading.texture_landmarks())


@pytest.fixture(scope="module")
def session(pair):
    return Session(pair[0])


def test_the_learned_ratio_darkens_the_folds_and_brightens_elsewhere(ratio):
    lr = shading.smile_log_ratio()
    assert lr.shape == (shading.TEXTURE_SIZE, shading.TEXTURE_SIZE, 3) and lr.dtype == np.float32
    assert (ratio[NASOLABIAL] < -0.02).all()
    assert (ratio > 0.03).sum() >= 5  # some of the face brightens in a smile
    s = shading.smile(0.7)
    assert s.amount == pytest.approx(0.7) and s.landmarks.shape == (478, 2)


def _log_change(after, before, points):
    grey = lambda im: im.astype(np.float64).mean(axis=2)  # noqa: E731
    return np.log((_at(grey(after), points) + 1.0) / (_at(grey(before), points) + 1.0))


@pytest.mark.parametrize("amount", [1.0, 0.5])
def test_rendered_shading_follows_the_ratio_image(session, ratio, amount):
    """On an unmoved face, the rendered change at each landmark is ``amount`` times the ratio."""
    face = session.faces[0].face
    scene = Scene(face, face.landmarks.astype(np.float64), shading=shading.smile(amount))
    out = render.render(session.pixels, scene)
    change = _log_change(out, session.pixels, face.points)
    strong = np.abs(ratio) > 0.03
    assert strong.sum() > 30
    assert np.corrcoef(ratio[strong], change[strong])[0, 1] > 0.8
    slope = (ratio[strong] @ change[strong]) / (ratio[strong] @ ratio[strong])
    assert 0.6 * amount < slope < 1.4 * amount
    assert (change[NASOLABIAL] < 0).all()
    assert (change[ratio > 0.03] > 0).mean() > 0.8


def test_a_happy_edit_brings_smile_shading_over_its_warp(session, ratio):
    """Against the same edit without shading: folds darker, where the image brightens brighter."""
    state = session.faces[0]
    scene = session.scene(Request.from_controls(emotion="happy"))
    assert scene.shading is not None and scene.shading.amount > 0.3
    shaded = render.render(session.pixels, scene)
    plain = render.render(session.pixels, dataclasses.replace(scene, shading=None))
    change = _log_change(shaded, plain, scene.target[:, :2])
    strong = np.abs(ratio) > 0.03
    assert np.corrcoef(ratio[strong], change[strong])[0, 1] > 0.8
    assert change[NASOLABIAL].mean() < -0.02
    assert change[ratio > 0.03].mean() > 0.01
    assert state.face is scene.face


@pytest.mark.parametrize("amount", [0.7, -0.5])
def test_for_change_carries_the_smile_shading_without_doubling_its_folds(session, ratio, amount):
    """A smile's shading through ``for_change`` is the learned ratio image at ``amount``
    wherever the creases do not reach (its nasolabial folds are not drawn twice); without
    creases it is exactly :func:`shading.smile`."""
    from mien import creases
    from mien.expression import Expression

    state = session.faces[0]
    face = state.face.landmarks.astype(np.float64)
    plain = shading.for_change(state, Expression({"smile": amount}), face, creases=False)
    assert plain.amount == pytest.approx(amount) and plain.log_ratio is shading.smile_log_ratio()
    s = shading.for_change(state, Expression({"smile": amount}), face)
    if amount > 0:  # a smile brings crow's feet: one map in the crease frame
        assert s.amount == 1.0 and s.log_ratio.shape == (creases.FRAME, creases.FRAME, 3)
    else:  # taking a smile away folds nothing: the plain smile shading, negated
        assert s.amount == pytest.approx(amount) and s.log_ratio is shading.smile_log_ratio()
    got = _at(s.amount * s.log_ratio.mean(axis=2), s.landmarks)
    assert np.allclose(got[NASOLABIAL], amount * ratio[NASOLABIAL], atol=0.01)
    strong = np.abs(ratio) > 0.03
    assert np.corrcoef(ratio[strong], got[strong])[0, 1] * np.sign(amount) > 0.9
    assert shading.for_change(state, Expression({}), face) is None

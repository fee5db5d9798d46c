"""Creases driven by Action Units: each fold darkens for the AU that drives it and for no
other, deepens where the warp compresses the skin, is lit from the photo's light side, and
an angry edit of a real photo shows the frown between the brows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mien import creases, render, shading
from mien.controls import Request
from mien.expression import Expression, model

#: An appearance with light from above, unit contrast, a sharp photo.
TOP_LIGHT = creases.Appearance(np.array([0.0, -0.3]), 1.0, 0.0)


def _mean_face(code: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The mean face before and after ``code`` (image axes: y down)."""
    m = model()
    base = m.neutral_mean * [1.0, -1.0, 1.0]
    moved = (m.neutral_mean + m.displacement(Expression(code))) * [1.0, -1.0, 1.0]
    return base, moved


def _at(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    ij = np.round(points).astype(int)
    return image[np.clip(ij[:, 1], 0, image.shape[0] - 1), np.clip(ij[:, 0], 0, image.shape[1] - 1)]


def _line(fold: creases.Fold) -> np.ndarray:
    """Points along the middle 60 % of a fold's polyline."""
    pts = fold.points
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.2, 0.8, 15) * cum[-1]
    return np.stack([np.interp(t, cum, pts[:, 0]), np.interp(t, cum, pts[:, 1])], axis=1)


@pytest.fixture(scope="module")
def maps():
    return creases.fold_maps(TOP_LIGHT)


def _grey(pair: np.ndarray) -> np.ndarray:
    return creases.to_rgb(pair).mean(axis=2)


@pytest.mark.parametrize("au,names", [
    ("4", ("glabella_R", "glabella_L")),
    ("1", ("forehead0_C", "forehead1_C", "forehead2_C")),
    ("2", ("forehead1_R", "forehead1_L")),
    ("9", ("bunny_up_R", "bunny_low_L")),
    ("6", ("crow_mid_R", "crow_up_L")),
    ("14", ("dimple_R", "dimple_L")),
    ("15", ("corner_down_R",)),
    ("17", ("mentolabial",)),
])
def test_a_fold_darkens_its_line_for_its_own_au_only(maps, au, names):
    folds = creases.folds()
    by_name = {f.name: f for f in folds}
    source, target = _mean_face({au: 1.0})
    w = creases.weights({au: 1.0}, source, target)
    driven = np.array([au in f.drivers for f in folds])
    assert (w[driven] > 0.2).all() and (w[~driven] == 0).all()
    grey = _grey(creases.crease_map({au: 1.0}, source, target, maps))
    for name in names:
        assert _at(grey, _line(by_name[name])).mean() < -0.01, name
    # Far from every driven fold, nothing changes.
    lit = np.concatenate([f.points for f in folds if au in f.drivers])
    for fold in folds:
        if au not in fold.drivers:
            line = _line(fold)
            far = np.linalg.norm(line[:, None] - lit[None], axis=2).min(axis=1) > 40
            assert np.abs(_at(grey, line[far])).max(initial=0) < 1e-3, fold.name


def test_no_au_no_creases(maps, sessions):
    source, target = _mean_face({})
    assert creases.crease_map({}, source, target, maps) is None
    assert creases.crease_map({"4": 0.0, "12": -0.5}, source, target, maps) is None
    state = sessions[0].faces[0]
    face = state.face.landmarks
    assert shading.for_change(state, Expression({}), face) is None
    # A smile alone: the learned smile shading (plus crow's feet), never a doubled fold.
    s = shading.for_change(state, Expression({"smile": 1.0}), face)
    assert s is not None and s.amount == 1.0


def test_the_smile_and_au12_do_not_double_the_nasolabial_fold():
    d = creases.drives({"12": 1.0, "smile": 1.0}, smile=1.0)
    names = [f.name for f in creases.folds()]
    assert d[names.index("nasolabial_R")] == pytest.approx(0.0)
    assert creases.drives({"12": 1.0})[names.index("nasolabial_R")] > 0.5


def test_compression_deepens_and_stretching_removes_a_fold():
    names = [f.name for f in creases.folds()]
    g = names.index("glabella_R")
    source, target = _mean_face({"4": 1.0})
    plain = creases.weights({"4": 1.0}, source, target)[g]
    # Squeeze the skin between the brows further toward the midline: a deeper fold.
    centre = target[9, :2]
    squeezed = target.copy()
    near = np.linalg.norm(target[:, :2] - centre, axis=1) < 0.5 * np.linalg.norm(target[33, :2] - target[263, :2])
    squeezed[near, 0] = centre[0] + 0.9 * (target[near, 0] - centre[0])
    assert creases.weights({"4": 1.0}, source, squeezed)[g] > plain + 0.1
    # The same AU on a warp that spreads that skin apart: no fold.
    spread = target.copy()
    spread[near, 0] = centre[0] + 1.3 * (source[near, 0] - centre[0])
    assert creases.weights({"4": 1.0}, source, spread)[g] == 0.0


@pytest.mark.parametrize("light_x", [-0.4, 0.4])
def test_the_highlight_is_on_the_side_of_the_light(light_x):
    """A vertical fold (the glabella furrow) lit from the image's left is brightest left of
    its groove, and from the right, right of it."""
    app = creases.Appearance(np.array([light_x, 0.0]), 1.0, 0.0)
    names = [f.name for f in creases.folds()]
    g = names.index("glabella_L")
    prof = creases.profile(g)
    dark, bright = creases.fold_maps(app)[g]
    _, _, x0, _ = prof.box
    cols = np.arange(bright.shape[1]) + x0
    groove_x = (prof.occlusion.sum(axis=0) * cols).sum() / prof.occlusion.sum()
    lit_x = (bright.sum(axis=0) * cols).sum() / bright.sum()
    assert np.sign(lit_x - groove_x) == np.sign(light_x)
    assert abs(lit_x - groove_x) > 1.0


def test_measured_light_follows_a_relit_photo(pair):
    """Brightening one side of a face turns the measured light toward that side."""
    from mien.detect import analyze

    pixels = pair[0]
    face = analyze(pixels)[0]
    h, w = pixels.shape[:2]
    ramp = np.linspace(1.25, 0.75, w)[None, :, None]  # brighter on the image's left
    relit = np.clip(pixels * ramp, 0, 255).astype(np.uint8)
    a = creases.measure(pixels, face.landmarks)
    b = creases.measure(relit, face.landmarks)
    assert b.light[0] < a.light[0] - 0.05


def test_an_angry_edit_darkens_the_glabella(sessions):
    session = sessions[0]
    state = session.faces[0]
    request = Request.from_controls(au={"4": 1.0})
    scene = session.scene(request)
    assert scene.shading is not None
    plain = dataclasses.replace(scene, shading=shading.for_change(state, request.change(state), scene.target,
                                                                     creases=False))
    with_creases = render.render(session.pixels, scene)
    without = render.render(session.pixels, plain)
    t = scene.target[:, :2]
    iod = np.linalg.norm(t[33] - t[263])
    # Points on the furrows: beside the midline, just above the brows' inner heads.
    mid = (t[9] + t[8]) / 2
    pts = np.array([mid + [-0.055 * iod, 0], mid + [0.055 * iod, 0],
                    t[9] + [-0.06 * iod, -0.03 * iod], t[9] + [0.06 * iod, -0.03 * iod]])
    grey = lambda im: im.astype(np.float64).mean(axis=2)  # noqa: E731
    change = np.log((_at(grey(with_creases), pts) + 1) / (_at(grey(without), pts) + 1))
    assert change.mean() < -0.02
    # Away from the face, nothing changes.
    assert (with_creases[:20] == without[:20]).all()


def test_folds_follow_the_photos_sharpness_and_contrast(pair):
    """A blurred photo measures blurrier, and its folds are drawn softer (shallower and
    wider); a low-contrast photo gets shallower folds."""
    import cv2

    from mien.detect import analyze

    pixels = pair[0]
    face = analyze(pixels)[0]
    sharp = creases.measure(pixels, face.landmarks)
    soft = creases.measure(cv2.GaussianBlur(pixels, (0, 0), 4.0), face.landmarks)
    assert soft.blur > sharp.blur + 1.0
    names = [f.name for f in creases.folds()]
    g = names.index("glabella_R")
    # Unlit (the groove's darkness only): blurring spreads the same darkness wider.
    unlit = dataclasses.replace(TOP_LIGHT, light=np.zeros(2))
    crisp = creases.fold_maps(unlit)[g][0]
    blurred = creases.fold_maps(dataclasses.replace(unlit, blur=soft.blur))[g][0]
    assert blurred.min() > 0.8 * crisp.min()
    assert blurred.sum() == pytest.approx(crisp.sum(), rel=0.1)
    flat = creases.fold_maps(dataclasses.replace(unlit, contrast=0.6))[g][0]
    assert flat.min() == pytest.approx(0.6 * crisp.min(), rel=1e-4)


@pytest.mark.parametrize("code", [{"4": 1.0, "7": 0.8, "23": 0.9}, {"1": 1.0, "2": 1.0, "5": 1.0, "26": 0.9},
                                  {"9": 0.8, "10": 0.9, "4": 0.7, "17": 0.5}])
def test_folds_grow_evenly_with_intensity(code):
    """An intensity sweep deepens each driven fold monotonically and without jumps (the
    renderer's sweeps must stay continuous)."""
    steps = np.linspace(0.0, 1.5, 16)
    rows = []
    for t in steps:
        scaled = {k: v * t for k, v in code.items()}
        source, target = _mean_face(scaled)
        rows.append(creases.weights(scaled, source, target))
    w = np.array(rows)  # (steps, folds)
    driven = w[-1] > 0.05
    assert driven.any()
    d = np.diff(w[:, driven], axis=0)
    assert (d >= -1e-9).all()
    assert (d.max(axis=0) <= 2.5 * w[-1, driven] / (len(steps) - 1)).all()
    assert (w[0] == 0).all()

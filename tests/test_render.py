"""The one renderer: plan at working resolution, execute at full resolution."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from mien import mesh, render
from mien.controls import Burst, Shot
from mien.scene import Layer, Scene


@pytest.fixture(scope="module")
def smile(sessions):
    """A mouth transfer: (scene, plan, full-resolution result)."""
    sp, se = sessions
    scene = Burst((Shot(se, "mouth"),)).scene(sp.faces[0])
    p = render.plan(sp.pixels, scene)
    return scene, p, render.execute(sp.pixels, p)


def _crop(image, grid):
    return image[grid.y0:grid.y0 + grid.full_size[0], grid.x0:grid.x0 + grid.full_size[1]]


def test_the_full_result_shrunk_to_the_working_grid_is_the_preview(smile):
    _, p, out = smile
    h, w = p.grid.size
    small = cv2.resize(_crop(out, p.grid).astype(np.float32) / 255, (w, h), interpolation=cv2.INTER_AREA)
    err = np.abs(small - p.preview)
    assert p.preview.dtype == np.float32 and p.preview.shape == (h, w, 3)
    assert err.mean() < 0.01
    # Where the edit really changed the photo, too: the texture is in both.
    edited = p.layers[0].alpha > 0.5
    assert edited.sum() > 1000 and err[edited].mean() < 0.03


def test_execute_leaves_everything_outside_the_grid_bit_identical(sessions, smile):
    sp, _ = sessions
    _, p, out = smile
    g = p.grid
    outside = np.ones(out.shape[:2], bool)
    outside[g.y0:g.y0 + g.full_size[0], g.x0:g.x0 + g.full_size[1]] = False
    assert outside.any() and not outside.all()
    assert np.array_equal(out[outside], sp.pixels[outside])
    assert not np.array_equal(_crop(out, g), _crop(sp.pixels, g))


def test_a_scene_that_changes_nothing_returns_the_input(sessions):
    sp, _ = sessions
    face = sp.faces[0].face
    scene = Scene(face, face.landmarks.astype(np.float64))
    assert scene.changes_nothing
    out = render.render(sp.pixels, scene)
    assert out is sp.pixels or np.array_equal(out, sp.pixels)
    assert render.render(sp.pixels, (scene, scene)) is sp.pixels or np.array_equal(out, sp.pixels)


def test_a_sixteen_bit_photo_is_rendered_at_sixteen_bits(sessions):
    sp, se = sessions
    deep = sp.pixels.astype(np.uint16) * 257
    scene = Burst((Shot(se, "mouth"),)).scene(sp.faces[0])
    out = render.render(deep, scene)
    assert out.dtype == np.uint16 and out.shape == deep.shape
    changed = np.any(out != deep, axis=2)
    assert changed.any()
    values = out[changed]
    assert len(np.unique(values)) > 256
    assert (values % 257 != 0).mean() > 0.5  # not 8-bit values scaled up
    assert np.array_equal(out[~changed], deep[~changed])


def _turned(face, degrees):
    """The face's landmarks turned about a vertical axis through their centre."""
    lm = face.landmarks.astype(np.float64)
    c = lm.mean(axis=0)
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return dataclasses.replace(face, landmarks=((lm - c) @ rot.T + c).astype(np.float32))


def _sides(face):
    x = face.points[: mesh.N_SURFACE, 0] - face.centre[0]
    return x < -0.15 * face.size, x > 0.15 * face.size


@pytest.mark.parametrize("degrees", [50, -50])
def test_visibility_fades_the_far_side_of_a_turned_face(sessions, degrees):
    face = sessions[0].faces[0].face
    left, right = _sides(face)
    front = render.visibility(face)[: mesh.N_SURFACE]
    assert front[left].mean() > 0.7 and front[right].mean() > 0.7
    vis = render.visibility(_turned(face, degrees))[: mesh.N_SURFACE]
    far, near = (left, right) if degrees > 0 else (right, left)
    assert vis[near].mean() > 0.9
    assert vis[far].mean() < 0.45
    assert vis.min() >= 0 and vis.max() <= 1


def test_texture_from_a_grazing_side_is_not_transferred(sessions):
    """A layer from a strongly turned face: its far side gets little texture weight."""
    sp, _ = sessions
    face = sp.faces[0].face
    turned = _turned(face, 50)
    layer = Layer(sp.pixels, turned, np.ones(mesh.N_LANDMARKS), turned.landmarks.astype(np.float64))
    p = render.plan(sp.pixels, Scene(face, face.landmarks.astype(np.float64), (layer,)))
    alpha = p.layers[0].alpha
    at = np.round(p.grid.to_work(face.points[: mesh.N_SURFACE].astype(np.float64))).astype(int)
    at[:, 0] = np.clip(at[:, 0], 0, alpha.shape[1] - 1)
    at[:, 1] = np.clip(at[:, 1], 0, alpha.shape[0] - 1)
    weight = alpha[at[:, 1], at[:, 0]]
    far, near = _sides(face)
    assert weight[near].mean() > 0.75
    assert weight[far].mean() < 0.35
    # The same layer from an own-person photo seen from the front: both sides alike.
    flat = Layer(sp.pixels, face, np.ones(mesh.N_LANDMARKS), face.landmarks.astype(np.float64))
    alpha = render.plan(sp.pixels, Scene(face, face.landmarks.astype(np.float64), (flat,))).layers[0].alpha
    weight = alpha[at[:, 1], at[:, 0]]
    assert abs(weight[far].mean() - weight[near].mean()) < 0.2


def test_a_donor_mouth_worked_in_its_window_renders_as_its_preview(sessions):
    """A donor layer is planned only inside the window its weight reaches; embedded back
    into the grid, the full-resolution result must still show what the preview shows."""
    from mien.controls import Request

    sp, _ = sessions
    scene = sp.scene(Request.from_controls(aaa=0.8))
    (layer,) = scene.layers
    assert not layer.own_person
    p = render.plan(sp.pixels, scene)
    lp = p.layers[0]
    assert lp.alpha.shape == p.grid.size and lp.map.shape == p.grid.size + (2,)
    inside = lp.alpha > 0.5
    assert 200 < inside.sum() < 0.1 * inside.size  # a small window of the grid
    # Outside its window (well away from its weight: the donor's own lips are cut off
    # inside the window) the layer's map is the identity and its weight zero.
    far = cv2.dilate((lp.alpha > 0).astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    np.testing.assert_allclose(lp.map[far], p.grid.coords()[far], atol=1e-4)
    out = render.execute(sp.pixels, p)
    h, w = p.grid.size
    small = cv2.resize(_crop(out, p.grid).astype(np.float32) / 255, (w, h), interpolation=cv2.INTER_AREA)
    err = np.abs(small - p.preview)
    assert err.mean() < 0.01 and err[inside].mean() < 0.04


def test_previews_from_the_working_copy_match_sampling_the_photo(sessions):
    """Session.preview samples a per-face shrunk copy; the pixels must be those a plan that
    shrinks the photo itself gives, on the same grid."""
    from mien.controls import Request

    sp, _ = sessions
    state = sp.faces[0]
    request = Request.from_controls(smile=0.6, yaw=8)
    grid = state.preview_grid(256)
    direct = render.plan(sp.pixels, sp.scene(request), grid=grid).preview
    via_copy = sp.preview(request)
    assert via_copy.shape == direct.shape
    err = np.abs(via_copy - direct)
    assert err.mean() < 0.01 and np.percentile(err, 99) < 0.06


def test_teeth_from_a_photo_of_the_same_person_take_the_edited_photos_light(sessions):
    """A burst's mouth from an uncast photo onto a warm-cast (tungsten) pose photo: the
    skin-ratio illumination gain carries the cast, so the teeth sit against the pose
    photo's eye whites as they do without the cast (a grey gain would leave them ~20
    a*b* units bluer)."""
    from mien.evaluation.metrics import teeth_colour
    from mien.image import from_float, to_float
    from mien.sclera import encode, linear
    from mien.session import Session

    sp, se = sessions
    warm = from_float(encode(linear(to_float(sp.pixels)) * np.float32([1.3, 1.0, 0.55])))
    offsets = []
    for pose in (sp, Session(warm)):
        scene = Burst((Shot(se, "mouth"),)).scene(pose.faces[0])
        assert all(lay.own_person for lay in scene.layers)
        out = render.render(pose.pixels, scene)
        t = teeth_colour(out, dataclasses.replace(pose.faces[0].face, landmarks=scene.target.astype(np.float32)))
        assert t is not None
        offsets.append(t.offset)
    assert np.linalg.norm(offsets[1] - offsets[0]) < 5.0, offsets


@pytest.mark.parametrize("controls", [{"emotion": "angry"}, {"brows": 0.8}, {"emotion": "happy", "intensity": 0.7}])
def test_shading_worked_only_where_its_map_is_not_zero_equals_shading_everywhere(sessions, monkeypatch, controls):
    from mien.controls import Request

    session = sessions[0]
    request = Request.from_controls(**controls)
    windowed = session.preview(request)
    scene = session.scene(request)
    support = render._shading_support(scene.shading, 2 * len(mesh.triangles()))
    assert support.any() and not support[len(mesh.triangles()):].any()
    everywhere = np.arange(2 * len(mesh.triangles())) < len(mesh.triangles())
    monkeypatch.setattr(render, "_shading_support", lambda shading, n: everywhere[:n])
    np.testing.assert_array_equal(session.preview(request), windowed)
    if "brows" in controls:  # forehead folds only: a small part of the face
        assert support.sum() < 0.2 * len(mesh.triangles())

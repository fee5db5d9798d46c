"""Motion: warp-field properties on synthetic meshes and images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mien import mesh
from mien.warp import (
    Grid,
    apply,
    grid_around,
    jacobian_determinant,
    mesh_warp,
    signed_areas,
    target_mesh,
)


def frontal_landmarks(size: float = 300.0, centre=(400.0, 380.0)) -> np.ndarray:
    """(478, 2) landmarks: the canonical face seen from the front, ``size`` px wide."""
    verts, _ = mesh.canonical()
    scale = size / np.ptp(verts[:, 0])
    pts = np.zeros((mesh.N_LANDMARKS, 2))
    pts[: mesh.N_SURFACE, 0] = centre[0] + verts[:, 0] * scale
    pts[: mesh.N_SURFACE, 1] = centre[1] - verts[:, 1] * scale
    for eye, iris in ((mesh.RIGHT_EYE, mesh.RIGHT_IRIS), (mesh.LEFT_EYE, mesh.LEFT_IRIS)):
        contour = pts[list(eye)]
        centre, r = contour.mean(axis=0), 0.2 * np.ptp(contour[:, 0])
        pts[list(iris)] = centre + r * np.array([[0, 0], [1, 0], [0, -0.5], [-1, 0], [0, 0.5]])
    return pts


def textured(h=760, w=800, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    import cv2

    noise = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    return (cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def test_identity_field_leaves_pixels_unchanged():
    pts = frontal_landmarks()
    grid = grid_around(pts, (760, 800))
    field = mesh_warp(pts, pts, grid)
    np.testing.assert_allclose(field, grid.coords(), atol=1e-3)
    img = textured()
    crop = apply(img, field, grid)
    assert np.array_equal(crop, img[grid.y0:grid.y0 + grid.full_size[0], grid.x0:grid.x0 + grid.full_size[1]])


def test_known_affine_mesh_motion_is_reproduced():
    src = frontal_landmarks()
    a = np.array([[1.04, 0.03], [-0.02, 0.97]])
    t = np.array([5.0, -3.0])
    centre = src.mean(0)
    dst = (src - centre) @ a.T + centre + t
    grid = grid_around(np.concatenate([src, dst]), (760, 800))
    tm = target_mesh(dst, grid)
    field = tm.field(src)
    # Inside the face (not the fading band) the backward map is the inverse affine.
    inside = tm.ids < len(mesh.triangles())
    inside &= tm.ids >= 0
    coords = grid.coords()
    expected = (coords - centre - t) @ np.linalg.inv(a).T + centre
    err = np.linalg.norm(field - expected, axis=2)[inside]
    assert inside.sum() > 10000
    assert err.max() < 0.05


def test_field_is_the_identity_outside_the_support_ring():
    src = frontal_landmarks()
    dst = src.copy()
    dst[list(mesh.LIPS_OUTER)] += [0, 12]
    grid = grid_around(np.concatenate([src, dst]), (760, 800))
    tm = target_mesh(dst, grid)
    field = tm.field(src)
    outside = tm.ids < 0
    assert outside.any()
    assert np.array_equal(field[outside], grid.coords()[outside])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), amount=st.floats(0.0, 0.03))
def test_smooth_expression_motion_never_folds(seed, amount):
    """Moving landmarks by a smooth field (up to 3 % of face width) keeps orientation."""
    src = frontal_landmarks()
    rng = np.random.default_rng(seed)
    k = rng.normal(size=(2, 3))
    rel = (src - src.mean(0)) / 300.0
    disp = 300.0 * amount * np.stack([np.sin(rel @ k[0, :2] * 3 + k[0, 2]), np.cos(rel @ k[1, :2] * 3 + k[1, 2])], 1)
    dst = src + disp
    grid = grid_around(np.concatenate([src, dst]), (760, 800))
    tm = target_mesh(dst, grid)
    det = jacobian_determinant(tm.field(src))
    # The canonical mesh itself folds at the inner mouth corners (the lips curl inward):
    # pixels touching those triangles are excused, nowhere else.
    tris = mesh.triangles()
    area = signed_areas(src, tris)
    folded = np.flatnonzero(np.sign(area) != np.sign(np.median(area)))
    near = np.isin(tm.ids, folded)
    near = near[:-1, :-1] | near[1:, :-1] | near[:-1, 1:] | near[1:, 1:]
    assert len(folded) == 10
    # No triangle turns over ...
    assert np.array_equal(np.sign(signed_areas(dst, tris))[area != 0], np.sign(area)[area != 0])
    # ... and the field keeps orientation everywhere but a stray pixel where a sliver
    # triangle's affine map extrapolates across its rasterised edge (seed 5479 found one,
    # det -0.48, with no triangle flipped).
    assert (det[~near] <= 0).sum() <= 2


def test_upsampled_field_matches_the_working_field_at_grid_points():
    src = frontal_landmarks(size=900, centre=(1200, 1100))
    rel = (src - src.mean(0)) / 900.0
    dst = src + 25.0 * np.stack([np.sin(3 * rel[:, 1]), np.cos(2 * rel[:, 0])], 1)
    grid = grid_around(np.concatenate([src, dst]), (2400, 2400), face_px=300)
    assert grid.size[0] < grid.full_size[0] / 2  # really a lower working resolution
    field = mesh_warp(src, dst, grid)
    full = grid.full_coords() + grid.upsample(field - grid.coords())
    # Sampling the full-resolution map back at the working pixels' positions gives the
    # working field again (up to bilinear interpolation inside curved regions).
    import cv2

    pos = grid.coords()
    back = cv2.remap(full, pos[..., 0] - grid.x0, pos[..., 1] - grid.y0, cv2.INTER_LINEAR)
    inner = (slice(2, -2), slice(2, -2))
    err = np.abs(back - field)[inner]
    assert np.percentile(err, 99) < 0.05 and err.max() < 0.5
    # And everywhere the map is smooth: neighbouring full pixels differ by about one pixel.
    step = np.abs(np.diff(full[..., 0], axis=1))
    assert step.max() < 1.5


def test_grid_geometry():
    g = Grid(10, 20, (100, 200), (50, 100))
    pts = g.coords()
    assert pts.shape == (50, 100, 2)
    np.testing.assert_allclose(g.to_work(pts), np.stack(np.meshgrid(np.arange(100), np.arange(50)), -1), atol=1e-4)
    with pytest.raises(TypeError):
        Grid(0, 0)  # type: ignore[call-arg]


def test_jacobian_of_an_affine_field_is_its_determinant():
    ys, xs = np.mgrid[0:30, 0:40].astype(np.float32)
    a = np.array([[1.2, 0.3], [-0.1, 0.8]], np.float32)
    field = np.stack([a[0, 0] * xs + a[0, 1] * ys + 5, a[1, 0] * xs + a[1, 1] * ys - 3], axis=-1)
    det = jacobian_determinant(field)
    assert det.shape == (29, 39)
    np.testing.assert_allclose(det, np.linalg.det(a), rtol=1e-4)


def test_compose_follows_the_flow_then_the_field():
    from mien.warp import compose

    ys, xs = np.mgrid[0:40, 0:50].astype(np.float32)
    field = np.stack([3 * xs + 7, 2 * ys - 1], axis=-1)
    flow = np.zeros((40, 50, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.5, -2.0
    out = compose(field, flow)
    inner = (slice(3, 37), slice(3, 45))
    np.testing.assert_allclose(out[inner][..., 0], 3 * (xs[inner] + 1.5) + 7, atol=1e-3)
    np.testing.assert_allclose(out[inner][..., 1], 2 * (ys[inner] - 2.0) - 1, atol=1e-3)
    # Beyond the border the field's edge is replicated.
    assert out[0, 0, 1] == pytest.approx(field[0, 0, 1])


def test_refinement_flow_recovers_a_known_shift_where_it_is_trusted():
    import cv2

    from mien.warp import refinement_flow

    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.random((160, 200)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / np.ptp(img)
    moved = np.roll(img, (2, -3), axis=(0, 1))  # moved(x) = img(x - (-3, 2))
    confidence = np.ones_like(img)
    flow = refinement_flow(img, moved, confidence, sigma=8.0)
    centre = flow[40:120, 50:150]
    # fixed(x) ~ moving(x + flow): flow = (-3, +2).
    assert np.median(centre[..., 0]) == pytest.approx(-3.0, abs=0.3)
    assert np.median(centre[..., 1]) == pytest.approx(2.0, abs=0.3)
    # Nothing trusted: no correction.
    none = refinement_flow(img, moved, np.zeros_like(img), sigma=8.0)
    assert np.abs(none).max() < 1e-3



def test_attribute_interpolates_landmark_values_and_zeroes_the_ring():
    src = frontal_landmarks()
    grid = grid_around(src, (760, 800))
    tm = target_mesh(src, grid)
    values = np.zeros(mesh.N_LANDMARKS)
    values[list(mesh.FACE_OVAL)] = 1.0
    out = tm.attribute(values)
    assert out.shape == grid.size and out.dtype == np.float32
    inside = tm.ids >= 0
    assert out[~inside].max() == 0.0
    oval = grid.to_work(src[list(mesh.FACE_OVAL)]).round().astype(int)
    assert np.median(out[oval[:, 1], oval[:, 0]]) > 0.9  # on the outline: 1, fading to the ring
    twice = tm.attribute(np.stack([values, 2 * values], 1))
    np.testing.assert_allclose(twice[..., 1], 2 * twice[..., 0], atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), fraction=st.floats(0.01, 1.0), pad=st.integers(0, 6))
def test_interpolating_some_triangles_or_a_window_equals_the_full_interpolation_there(seed, fraction, pad):
    rng = np.random.default_rng(seed)
    src = frontal_landmarks()
    grid = grid_around(src, (760, 800))
    tm = target_mesh(src, grid)
    values = rng.normal(size=(len(tm.points), 3))
    chosen = rng.random(len(tm.triangles)) < fraction
    full = tm.interpolate(values, outside=-7.0)
    some = tm.interpolate(values, outside=-7.0, triangles=chosen)
    drawn = chosen[tm.ids] & (tm.ids >= 0)
    np.testing.assert_array_equal(some[drawn], full[drawn])
    assert (some[~drawn] == -7.0).all()
    face = tm.interpolate(values, outside=-7.0, face_only=True, triangles=chosen)
    on_face = drawn & (tm.ids < len(mesh.triangles()))
    np.testing.assert_array_equal(face[on_face], full[on_face])
    assert (face[~on_face] == -7.0).all()
    win = tm.window_of(chosen, pad)
    if drawn.any():
        rows, cols = np.nonzero(drawn)
        assert win[0].start <= rows.min() and rows.max() < win[0].stop
        assert win[1].start <= cols.min() and cols.max() < win[1].stop
    np.testing.assert_array_equal(tm.interpolate(values, outside=-7.0, triangles=chosen, window=win), some[win])


def test_a_closed_slit_of_sliver_triangles_never_extrapolates_wildly():
    """A closed mouth's slit is a row of near-flat triangles that still cover a pixel or
    two; there, interpolated values stay within (about) their corners' range instead of
    growing as one over the sliver's width (a field that sampled the photo 400 px away)."""
    src = frontal_landmarks(size=600.0)
    for upper, lower in mesh.INNER_LIP_PAIRS:
        src[lower] = src[upper] + [0.0, 0.004]
    grid = grid_around(src, (760, 800))
    tm = target_mesh(src, grid)
    rng = np.random.default_rng(3)
    values = rng.random((len(tm.points), 2))
    out = tm.interpolate(values)
    covered = tm.ids >= 0
    # Pixels lie within ~0.7 px of the triangle covering them; triangles are at least
    # SLIVER_HEIGHT (0.5 px) thick or weighted along their longest edge.
    assert out[covered].min() > -2.0 and out[covered].max() < 3.0

"""Eyes of a real expression (mien.eyes): a raised upper lid reveals sclera above a round
iris instead of stretching the iris."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mien
from mien import eyes, render, sclera
from mien.controls import Request
from mien.session import Session
from mien.sclera import linear

WIDE = {"au": {"5": 1.0}}  # upper lid raiser: the upper lids rise


@pytest.fixture(scope="module", params=["020", "081"])  # dark and light iris
def session(request, data):
    return Session(mien.read_photo(data / "london" / request.param / "neutral.jpg").pixels)


def _split(scene):
    """``(with, without)`` the eye layer: the plain warp is the scene without it."""
    plain = dataclasses.replace(scene, layers=tuple(lay for lay in scene.layers if lay.cavity or lay.own_person
                                                    or lay.white is None or lay.feather != 1 / 400))
    return scene, plain


def _eye_layers(scene):
    return [lay for lay in scene.layers if not lay.own_person and lay.white is not None and lay.feather == 1 / 400]


def _chord(image: np.ndarray, centre: np.ndarray, radius: float, height: float, threshold: float) -> float:
    """Width (in radii) of the dark run through the iris's centre line at ``height`` radii
    above the centre; gaps up to 0.15 radii (catch-lights) are bridged."""
    lum = image.astype(np.float64) @ [0.299, 0.587, 0.114]
    y = int(round(centre[1] - height * radius))
    x0 = int(centre[0] - 1.8 * radius)
    dark = lum[y, x0: int(centre[0] + 1.8 * radius)] < threshold
    gap = max(1, int(0.15 * radius))
    mid = int(centre[0]) - x0
    ends = []
    for step in (-1, 1):
        x, last = mid, mid
        while 0 <= x < len(dark) and abs(x - last) <= gap:
            if dark[x]:
                last = x
            x += step
        ends.append(last)
    return (ends[1] - ends[0] + 1) / radius


def _iris_chords(session, image, target, height=0.85):
    """Chords of both irises, in radii (the radius seen in the photo, ``mien.eyes``'s)."""
    state = session.faces[0]
    face = state.face
    lum = session.pixels.astype(np.float64) @ [0.299, 0.587, 0.114]
    radii = {e.side: e.radius for e in eyes.analyse(session.pixels, face, state.sclera).eyes}
    out = []
    for c, side in ((468, "R"), (473, "L")):
        r = radii[side]
        cx, cy = face.points[c]
        iris = np.median(lum[int(cy), int(cx - 0.9 * r):int(cx - 0.4 * r)])
        bright = np.percentile(lum[int(cy - r):int(cy + r), int(cx - 2.5 * r):int(cx + 2.5 * r)], 90)
        out.append(_chord(image, target[c, :2], r, height, iris + 0.4 * (bright - iris)))
    return np.array(out)


def test_raised_lid_keeps_the_iris_round(session):
    scene = session.scene(Request.from_controls(**WIDE))
    assert len(_eye_layers(scene)) == 1
    with_layer, plain = _split(scene)
    px = session.pixels
    edited = render.execute(px, render.plan(px, with_layer))
    warped = render.execute(px, render.plan(px, plain))
    # A circle's chord at 0.85 radii above its centre is 2 * sqrt(1 - 0.85^2) = 1.05 radii.
    circle = 2 * np.sqrt(1 - 0.85**2)
    ours = _iris_chords(session, edited, scene.target)
    theirs = _iris_chords(session, warped, scene.target)
    assert np.all(np.abs(ours - circle) < 0.3), (ours, circle)
    # The plain warp stretches the iris up into the lashes: far wider there.
    assert np.all(theirs > circle + 0.5), theirs


def test_revealed_band_is_sclera_coloured(session):
    """Off the iris, the band the raised lid uncovers has the eye whites' colour: both
    where it is painted (beside the iris) and where the white is stretched (toward the
    corners)."""
    state = session.faces[0]
    face = state.face
    scene = session.scene(Request.from_controls(**WIDE))
    px = session.pixels
    edited = render.execute(px, render.plan(px, scene))
    an = eyes.analyse(px, face, state.sclera)
    near, far, beside = [], [], []
    for eye in an.eyes:
        r_v = eyes.lid_raise(face, scene.target, eye.side, an.up)
        r_v[[0, -1]] = 0.0
        r_s = eyes._st(face.points[list(eyes.UPPER[eye.side])], an.origin, an.u, an.up)[0]
        order = np.argsort(r_s)
        r = np.interp(eye.s, r_s[order], r_v[order])
        edge = eye.lid_t - eye.margin
        rho = np.hypot(eye.s - eye.centre[0], eye.t - eye.centre[1])
        ds = np.abs(eye.s - eye.centre[0])
        # The band's middle half (its edges blend into lashes and the old opening).
        band = (eye.t > edge + 0.25 * r) & (eye.t < edge + 0.75 * r) & (r > 1) & (rho > 1.2 * eye.radius)
        x0, y0, x1, y1 = eye.box
        ox, oy = an.offset.astype(int)
        region = edited[oy + y0:oy + y1, ox + x0:ox + x1]
        near.append(region[band & (ds < 1.6 * eye.radius)])
        far.append(region[band & (ds > 1.7 * eye.radius)])
        # What the photo shows of the white in those columns (spread into the band).
        opening = (eye.t < edge) & (eye.t > eye.low_t + eye.margin) & (eye.s > eye.upper_s[0]) & (
            eye.s < eye.upper_s[-1])
        beside.append(px[oy + y0:oy + y1, ox + x0:ox + x1][opening & (r > 1) & (ds > 1.7 * eye.radius)])
    luma = np.array([0.2126, 0.7152, 0.0722])
    # Against the visible sclera of the photo: its luminance (median of the candidate
    # pixels, lashes and corners included, up to the brightest whites) and its chroma.
    visible = np.median(sclera.eye_pixels(px, face)[0], axis=0)
    white = state.sclera.colour
    pixels = np.concatenate(near)
    assert len(pixels) >= 8
    colour = np.median(linear(pixels / 255.0), axis=0)
    lum = colour @ luma
    assert 0.5 * (visible @ luma) < lum < 1.1 * (white @ luma), (colour, visible, white)
    assert np.abs(colour / lum - white / (white @ luma)).max() < 0.12, (colour, white)
    # Toward the corners: like the white the photo shows in the same columns.
    pixels, ref = np.concatenate(far), np.concatenate(beside)
    assert len(pixels) >= 8 and len(ref) >= 8
    colour, ref = np.median(linear(pixels / 255.0), axis=0), np.median(linear(ref / 255.0), axis=0)
    assert 0.6 * (ref @ luma) < colour @ luma < 1.3 * (ref @ luma), (colour, ref)
    assert np.abs(colour / (colour @ luma) - ref / (ref @ luma)).max() < 0.1, (colour, ref)


@pytest.mark.parametrize("controls", [{"au": {"43": 0.6}}, {"au": {"4": 1.0}}, {"au": {"12": 0.8}},
                                      {"gaze_y": 1.0}, {"au": {"43L": 1.0}}, {"emotion": "sad"},
                                      {"roll": 15.0}, {"yaw": -15.0}, {"pitch": 10.0}])
def test_no_layer_when_no_lid_rises(session, controls):
    """Closing, frowning, smiling, looking up, turning or tilting the head raise no lid."""
    scene = session.scene(Request.from_controls(**controls))
    assert _eye_layers(scene) == []
    assert eyes.layers(session.faces[0], scene.target) == ()


def test_no_layer_for_the_face_as_it_is(session):
    face = session.faces[0].face
    assert eyes.layer(session.pixels, face, face.landmarks) is None


def _eye_window(session, work_px=256):
    face = session.faces[0].face
    grid = session.faces[0].preview_grid(work_px)
    sy, sx = grid.ratio
    pts = (face.points[list(mien.mesh.RIGHT_EYE) + list(mien.mesh.LEFT_EYE)] - [grid.x0, grid.y0]) / [sx, sy]
    x0, y0 = np.floor(pts.min(0) - 6).astype(int)
    x1, y1 = np.ceil(pts.max(0) + 6).astype(int)
    return slice(y0, y1), slice(x0, x1)


def _previews(session, value):
    """Working-resolution previews of eyes-wide at ``value`` with and without the eye layer."""
    state = session.faces[0]
    scene = session.scene(Request.from_controls(au={"5": value}))
    grid, copy = state.preview_grid(256), state.working_copy(256)
    return tuple(render.plan(session.pixels, s, grid=grid, copy=copy).preview for s in _split(scene))


def test_sweep_is_continuous(session):
    """Previews along AU 5 from 0 to 1 change evenly, and where the layer sets in the
    result is the plain warp's (no jump when the layer appears)."""
    values = np.linspace(0.0, 1.0, 21)
    frames = [session.preview(Request.from_controls(au={"5": v})) for v in values]
    steps = np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])
    assert steps.max() < 2.0 * np.median(steps), steps
    has = [bool(_eye_layers(session.scene(Request.from_controls(au={"5": v})))) for v in values]
    onset = has.index(True)
    assert 0 < onset < 8 and all(has[onset:]), has
    win = _eye_window(session)
    gaps = []
    for v in (values[onset], values[onset] + 0.02, values[onset] + 0.04, 1.0):
        ours, plain = _previews(session, v)
        gaps.append(np.abs(ours[win] - plain[win]).mean())
    gaps = np.array(gaps)
    # The layer's difference from the plain warp vanishes where it sets in, then grows.
    assert gaps[0] < 0.03 * gaps[-1], gaps
    assert gaps[0] < gaps[1] < gaps[2], gaps


def test_source_face_raises_only_the_upper_lid(session):
    state = session.faces[0]
    face = state.face
    scene = session.scene(Request.from_controls(**WIDE))
    (lay,) = _eye_layers(scene)
    up = eyes._frame(face)[2]
    moved = (lay.aligned[:, :2] - face.points) @ up
    for side in ("R", "L"):
        lid = list(eyes.UPPER[side])[1:-1]
        assert np.all(moved[lid] > 0.5), moved[lid]
        assert np.allclose(moved[list(eyes.LOWER[side])], 0.0)
        assert np.allclose(moved[list(eyes.IRIS[side])], 0.0)
    # The source's lid sits where the target's is, relative to the iris (no stretch).
    for side, c in (("R", 468), ("L", 473)):
        lid = list(eyes.UPPER[side])[1:-1]
        src = (lay.aligned[lid, :2] - lay.aligned[c, :2]) @ up
        tgt = (scene.target[lid, :2] - scene.target[c, :2]) @ up
        assert np.allclose(src, tgt, atol=0.5), (src, tgt)


def test_no_layer_for_closed_eyes(session):
    """A closed eye (the upper lid's landmarks on the lower lid's) shows no iris and no
    white to complete: raising its lid is left to the warp."""
    state = session.faces[0]
    face = state.face
    closed = face.landmarks.copy()
    for side in ("R", "L"):
        upper, lower = list(eyes.UPPER[side]), list(eyes.LOWER[side])
        closed[upper, :2] = closed[lower, :2] - [0.0, 1.0]
    shut = dataclasses.replace(face, landmarks=closed)
    target = closed.astype(np.float64)
    up = eyes._frame(face)[2]
    lids = list(eyes.UPPER["R"])[1:-1] + list(eyes.UPPER["L"])[1:-1]
    target[lids, :2] += 0.03 * face.interocular * up
    open_target = face.landmarks.astype(np.float64)
    open_target[lids, :2] += 0.03 * face.interocular * up
    assert eyes.layer(session.pixels, face, open_target) is not None
    assert eyes.layer(session.pixels, shut, target) is None

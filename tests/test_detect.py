"""Detection and fitting (mien.detect): any in-plane rotation, plausibility, fit, track, threads."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from mien import detect, mesh
from mien.detect import analyze, examine, fit, implausibility, track
from mien.errors import InputError
from mien.face import Face

# --------------------------------------------------------------------------- helpers


def _rotate(img: np.ndarray, degrees: float, pad: float = 0.25):
    """Turn a photo clockwise by ``degrees`` on a grey padded canvas (no EXIF involved).

    Returns the turned photo and the ``(3, 3)`` map from original to turned pixels.
    """
    h, w = img.shape[:2]
    p = int(pad * max(h, w))
    size = (w + 2 * p, h + 2 * p)
    m = cv2.getRotationMatrix2D(((size[0] - 1) / 2, (size[1] - 1) / 2), -degrees, 1.0)
    m[:, 2] += m[:, :2] @ (p, p)
    out = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(128, 128, 128))
    return out, np.vstack([m, (0, 0, 1)])


def _map(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    return points @ m[:2, :2].T + m[:2, 2]


def _eyes_and_mouth(points: np.ndarray):
    eyes = points[list(mesh.LEFT_EYE + mesh.RIGHT_EYE)].mean(axis=0)
    mouth = points[list(mesh.LIPS_OUTER)].mean(axis=0)
    return eyes, mouth


def _wrap(degrees: float) -> float:
    return (degrees + 180.0) % 360.0 - 180.0


@pytest.fixture(scope="module")
def photo(london):
    return london("020")[0]


@pytest.fixture(scope="module")
def upright(photo):
    faces = analyze(photo)
    assert len(faces) == 1
    return faces[0]


# --------------------------------------------------------------------------- basics


def test_each_lisa_photo_has_one_face_with_478_landmarks(lisa):
    for img in lisa:
        faces = analyze(img)
        assert len(faces) == 1
        f = faces[0]
        assert f.landmarks.shape == (478, 3) and f.landmarks.dtype == np.float32
        h, w = img.shape[:2]
        assert (f.points >= 0).all() and (f.points[:, 0] < w).all() and (f.points[:, 1] < h).all()
        assert f.image_size == (h, w) and 0 < f.score <= 1
        # Anatomy: eyes above the mouth, the subject's left eye on the image's right.
        assert f.points[13, 1] > f.points[159, 1]
        assert f.points[263, 0] > f.points[33, 0]


def test_no_face_gives_an_empty_result(rng):
    noise = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
    assert analyze(noise) == ()
    assert examine(noise).refused == ()
    assert analyze(np.zeros((300, 200, 3), np.uint8)) == ()


def test_sixteen_bit_photos_are_analysed_like_eight_bit(pair):
    wide = pair[0].astype(np.uint16) * 257
    a, b = analyze(pair[0])[0], analyze(wide)[0]
    assert np.allclose(a.landmarks, b.landmarks, atol=1e-3)


def test_bad_input_is_refused_with_input_errors(pair, upright):
    with pytest.raises(InputError):
        analyze(np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError):
        fit(pair[0], (10, 10, 5, 50))  # x1 < x0
    with pytest.raises(InputError):
        fit(pair[0], (0, 0, 10))
    with pytest.raises(InputError):
        fit(pair[0], upright.box, rotation=float("nan"))
    with pytest.raises(InputError):
        track(pair[0], "not a face")
    with pytest.raises(InputError):
        implausibility(np.zeros((10, 2)))


def test_two_faces_are_numbered_left_to_right(lisa, pair):
    left = cv2.resize(lisa[0], (450, 600))
    right = cv2.resize(pair[0], (600, 600))[:, 75:525]
    both = np.concatenate([left, right], axis=1)
    faces = analyze(both)
    assert len(faces) == 2
    assert faces[0].centre[0] < 450 < faces[1].centre[0]
    assert [f.index for f in faces] == [0, 1]


def test_an_upright_and_an_upside_down_face_in_one_photo(lisa, pair):
    left = cv2.resize(lisa[0], (450, 600))
    right = cv2.resize(pair[0], (600, 600))[::-1, ::-1][:, 75:525]
    faces = analyze(np.ascontiguousarray(np.concatenate([left, right], axis=1)))
    assert len(faces) == 2
    assert abs(faces[0].pose.angles[2]) < 15
    assert abs(_wrap(faces[1].pose.angles[2] - 180)) < 15


@pytest.mark.parametrize("degrees", [135, 255])
def test_two_detections_of_one_face_give_one_face(lisa, degrees):
    # Turned like this, the detector also reports an off-centre box beside lisa2's face.
    turned, _ = _rotate(lisa[1], degrees)
    with detect._models.lock:
        detect._models.load()
        boxes = detect._detect(detect._detection_copy(turned), turned.shape[:2])
    assert len(boxes) == 2
    result = examine(turned)
    assert len(result.faces) == 1 and result.refused == ()


def test_import_loads_no_mediapipe():
    code = "import sys, mien, mien.detect; assert 'mediapipe' not in sys.modules, 'mediapipe imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("degrees", [180, 90, 270, 30, 135, -60])
def test_a_rotated_photo_is_fitted_the_right_way_up(photo, upright, degrees):
    turned, m = _rotate(photo, degrees)
    faces = analyze(turned)
    assert len(faces) == 1
    face = faces[0]
    # Rotated back, the landmarks agree with the upright fit within a few pixels
    # (the face is ~500 px wide; a wrong-way-up fit is off by hundreds).
    back = _map(face.points.astype(np.float64), np.linalg.inv(m))
    error = np.linalg.norm(back - upright.points, axis=1)
    assert error.mean() < 3.0, error.mean()
    assert np.percentile(error, 95) < 6.0
    features = list(mesh.LIPS_OUTER + mesh.LEFT_EYE + mesh.RIGHT_EYE + mesh.LEFT_IRIS + mesh.RIGHT_IRIS)
    assert error[features].mean() < 2.5
    # In the face's own frame (up = the rotated image's up turned by the angle) the mouth
    # is below the eyes, and the head pose reports the rotation.
    eyes, mouth = _eyes_and_mouth(face.points)
    up = np.array([np.sin(np.radians(degrees)), -np.cos(np.radians(degrees))])
    assert (eyes - mouth) @ up > 0.5 * face.interocular
    assert abs(_wrap(face.pose.angles[2] - upright.pose.angles[2] - degrees)) < 5


def test_a_detector_box_off_the_face_is_corrected(lisa):
    # Turned by 210 degrees, lisa2's face fools the full-image detector into a box on her
    # neck; the crop is re-centred on the face the crop detector finds.
    img = lisa[1]
    base = analyze(img)[0]
    turned, m = _rotate(img, 210)
    face = analyze(turned)[0]
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    assert np.hypot(cx - face.centre[0], cy - face.centre[1]) > 0.5 * (face.box[2] - face.box[0])
    back = _map(face.points.astype(np.float64), np.linalg.inv(m))
    assert np.linalg.norm(back - base.points, axis=1).mean() < 3


def test_a_tilted_face_keeps_its_fit_when_the_photo_is_turned(lisa):
    # lisa3's face is tilted by ~20 degrees: turned by 180 it must fit the same face.
    img = lisa[2]
    base = analyze(img)[0]
    turned = np.ascontiguousarray(img[::-1, ::-1])
    face = analyze(turned)[0]
    h, w = img.shape[:2]
    back = np.column_stack([w - 1 - face.points[:, 0], h - 1 - face.points[:, 1]])
    assert np.linalg.norm(back - base.points, axis=1).mean() < 2.0


@pytest.mark.parametrize("degrees", [0, 90, 180, 270, 30, 135, -100])
@pytest.mark.parametrize("size", [16, 64])
def test_crops_map_back_to_photo_pixels_exactly(degrees, size):
    # A ramp whose value is twice the pixel coordinate: each crop pixel must hold twice the
    # photo coordinate its map sends it to (a half-pixel slip shows as an error of 1).
    n = 128
    y, x = np.mgrid[0:n, 0:n]
    ramp = np.dstack([2 * x, 2 * y, np.full_like(x, 100)]).astype(np.uint8)
    box = (50.0, 54.0, 74.5, 77.0)  # side 49 -> shrunk for 16, grown for 64
    crop, to_crop = detect._crop(ramp, box, size, degrees)
    assert crop.shape == (size, size, 3)
    u, v = np.meshgrid(np.arange(size), np.arange(size))
    source = _map(np.column_stack([u.ravel(), v.ravel()]).astype(np.float64), np.linalg.inv(to_crop))
    # (the corners of a turned crop lie outside the unturned crop it is turned from)
    centre = (size - 1) / 2
    inside = ((source.min(axis=1) > 2) & (source.max(axis=1) < n - 3)
              & (np.hypot(u.ravel() - centre, v.ravel() - centre) < size / 2 - 1.5))
    error = np.abs(crop.reshape(-1, 3)[inside, :2] - 2 * source[inside])
    assert inside.mean() > 0.4
    assert error.mean() < 0.4 and error.max() <= 1.6


@pytest.mark.parametrize("degrees", [0, 90, 180, 270, 30, 135])
@pytest.mark.parametrize("side", [700.0, 100.0])
def test_landmarks_map_back_to_photo_pixels_exactly(monkeypatch, degrees, side):
    # A float image whose pixels hold their own (x, y): a stand-in mesh returns crop pixel
    # centres in MediaPipe's normalised convention (centre of pixel i at (i + 0.5) / size);
    # mapped back they must land on the photo coordinates the crop pixels were sampled at.
    n = 1400
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    image = np.dstack([x, y, np.zeros_like(x)])
    size = detect.MESH_CROP
    ij = np.random.default_rng(5).integers(size // 4, 3 * size // 4, (478, 2))
    seen = {}

    def fake_mesh(crop):
        seen["crop"] = crop
        return [np.column_stack([(ij + 0.5) / size, np.zeros(478)])]

    monkeypatch.setattr(detect, "_run_mesh", fake_mesh)
    c = 690.3
    box = (c - side / 2, c - side / 2 + 3.7, c + side / 2, c + side / 2 + 3.7)
    lm = detect._fit_at(image, box, degrees)
    expected = seen["crop"][ij[:, 1], ij[:, 0], :2]
    assert np.abs(lm[:, :2] - expected).max() < 0.1


def test_of_several_meshes_the_one_on_the_detector_keypoints_is_kept(monkeypatch, pair, upright):
    # Two faces in the crop: without keypoints the one nearest the centre is kept, with
    # them the one whose eyes are at the detector's eye keypoints.
    real = detect._run_mesh
    with detect._models.lock:
        detect._models.load()
        crop, to_crop = detect._crop(pair[0], upright.box, detect.MESH_CROP, 0.0)
        mesh_a = real(crop)[0]
    mesh_b = mesh_a + (0.25, 0.2, 0.0)
    monkeypatch.setattr(detect, "_run_mesh", lambda crop: [mesh_b, mesh_a])
    with detect._models.lock:
        centred = detect._fit_at(pair[0], upright.box, 0.0)
        eyes_a = np.stack(_eye_pair(upright.points.astype(np.float64)))
        shift = np.linalg.inv(to_crop)[:2, :2] @ (0.25 * detect.MESH_CROP, 0.2 * detect.MESH_CROP)
        chosen = detect._fit_at(pair[0], upright.box, 0.0, keypoints=eyes_a + shift)
    assert np.abs(centred[:, :2] - upright.points).max() < 0.01
    assert np.abs(chosen[:, :2] - (upright.points + shift)).max() < 0.01


def test_quarter_turned_crops_are_exact_copies(pair, upright):
    rgb = pair[0]
    base, to_base = detect._crop(rgb, upright.box, 512, 0.0)
    for k in (1, 2, 3):
        crop, to_crop = detect._crop(rgb, upright.box, 512, 90.0 * k)
        assert np.array_equal(crop, np.rot90(base, k))
        assert np.allclose(to_crop, detect._rot90_matrix(k, (512, 512)) @ to_base)


def test_sideways_detector_misses_are_found_on_turned_copies(monkeypatch, lisa):
    # If the detector sees nothing in the upright copy, the turned copies are searched and
    # their boxes mapped back to the photo.
    img = lisa[1]
    expected = analyze(img)[0]
    real = detect._run_detector
    calls = {"n": 0}

    def blind_upright(model, image):
        calls["n"] += 1
        return [] if calls["n"] <= 2 else real(model, image)

    monkeypatch.setattr(detect, "_run_detector", blind_upright)
    faces = analyze(img)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    cx, cy = expected.centre
    assert x0 < cx < x1 and y0 < cy < y1 and x1 <= img.shape[1] + 50 and y1 <= img.shape[0] + 50
    assert np.linalg.norm(faces[0].points - expected.points, axis=1).mean() < 3


# --------------------------------------------------------------------------- plausibility


def _turn_points(points: np.ndarray, degrees: float, centre) -> np.ndarray:
    t = np.radians(degrees)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (points - centre) @ r.T + centre


def test_real_fits_are_plausible(upright, lisa):
    assert implausibility(upright.landmarks) is None
    assert implausibility(upright.landmarks, rotation=upright.pose.angles[2]) is None
    tilted = analyze(lisa[2])[0]
    assert implausibility(tilted.points, rotation=-20) is None


def test_implausible_geometry_is_named(upright):
    lm = upright.points.astype(np.float64)
    centre = upright.centre
    # the whole face turned upside down, where an upright face was expected
    reason = implausibility(_turn_points(lm, 180, centre), rotation=0)
    assert reason and "turned" in reason
    # the same upside-down face is plausible if that is how it lies
    assert implausibility(_turn_points(lm, 180, centre), rotation=180) is None
    # mirrored left to right
    mirrored = lm.copy()
    mirrored[:, 0] = 2 * centre[0] - mirrored[:, 0]
    assert "mirrored" in implausibility(mirrored)
    # the mouth moved above the eyes, the oval left as it was
    eyes, mouth = _eyes_and_mouth(lm)
    moved = lm.copy()
    moved[list(mesh.LIPS_OUTER + mesh.LIPS_INNER)] += 2.2 * (eyes - mouth)
    assert implausibility(moved) is not None
    # the oval turned against the features
    oval = lm.copy()
    oval[list(mesh.FACE_OVAL)] = _turn_points(lm[list(mesh.FACE_OVAL)], 180, centre)
    assert "oval" in implausibility(oval)
    # collapsed and non-finite fits
    assert "degenerate" in implausibility(np.zeros((478, 3)))
    broken = lm.copy()
    broken[5, 0] = np.nan
    assert "finite" in implausibility(broken)
    # a mesh far from the detector's keypoints
    keypoints = np.stack([*_eye_pair(lm), lm[4], (lm[13] + lm[14]) / 2])
    assert implausibility(lm, keypoints=keypoints) is None
    assert "keypoints" in implausibility(lm, keypoints=keypoints + (0, upright.interocular))


def _eye_pair(lm):
    return lm[list(mesh.RIGHT_EYE)].mean(axis=0), lm[list(mesh.LEFT_EYE)].mean(axis=0)


def _flip_mesh(meshes):
    """A mesh turned upside down in its crop (what MediaPipe returns for an upside-down
    face it reads as upright)."""
    return [np.column_stack([1 - m[:, 0], 1 - m[:, 1], m[:, 2]]) for m in meshes]


def test_an_implausible_fit_is_refused_not_returned(monkeypatch, caplog, pair, upright):
    real = detect._run_mesh
    calls = []

    def flipped(crop):
        calls.append(1)
        return _flip_mesh(real(crop))

    monkeypatch.setattr(detect, "_run_mesh", flipped)
    with caplog.at_level(logging.WARNING, logger="mien.detect"):
        result = examine(pair[0])
    assert result.faces == ()
    assert len(result.refused) == 1 and "turned" in result.refused[0].reason
    assert "refused" in caplog.text
    assert analyze(pair[0]) == ()
    assert fit(pair[0], upright.box) is None
    # one mesh pass each: the detector's second reading (upside down, far less likely) is
    # not tried, as a mesh fitted the wrong way up would agree with it
    assert len(calls) == 3


def test_the_old_upside_down_fit_is_refused(monkeypatch, photo):
    # Without turning the crop, MediaPipe fits an upside-down face the wrong way up (the
    # reported bug); the plausibility check must refuse that fit, not return it.
    monkeypatch.setattr(detect, "_snap", lambda rotation: 0.0)
    result = examine(np.ascontiguousarray(photo[::-1, ::-1]))
    assert result.faces == ()
    assert result.refused and "turned" in result.refused[0].reason


def test_a_retry_at_an_equally_likely_orientation_rescues_a_fit(monkeypatch, photo, upright):
    # The detector's best orientation is a quarter turn off (the mesh then comes out turned
    # against it: implausible) and a second one it finds about as likely is right: the
    # face is fitted at the second, with one extra mesh pass.
    real_orientations, real_mesh = detect._orientations, detect._run_mesh
    calls = []

    def confused(crop, to_crop):
        best = real_orientations(crop, to_crop)[0]
        return [(best[0], best[1] + 90.0, None, None), (0.95 * best[0], best[1], best[2], best[3])]

    def counted(crop):
        calls.append(1)
        return real_mesh(crop)

    monkeypatch.setattr(detect, "_orientations", confused)
    monkeypatch.setattr(detect, "_run_mesh", counted)
    turned, m = _rotate(photo, 150)
    faces = analyze(turned)
    assert len(faces) == 1 and len(calls) == 2
    back = _map(faces[0].points.astype(np.float64), np.linalg.inv(m))
    assert np.linalg.norm(back - upright.points, axis=1).mean() < 3
    # a far less likely second orientation is not tried: the fit is refused instead
    monkeypatch.setattr(detect, "_orientations",
                        lambda crop, to_crop: [(0.9, 240.0, None, None), (0.5, 150.0, None, None)])
    calls.clear()
    assert analyze(turned) == () and len(calls) == 1


# --------------------------------------------------------------------------- fit and track


def test_fit_on_the_detector_box_reproduces_analyze(pair, lisa, photo):
    turned, _ = _rotate(photo, 135)
    for img in (pair[0], lisa[2], turned):
        face = analyze(img)[0]
        again = fit(img, face.box)
        assert again is not None and again.index == 0
        assert np.allclose(again.landmarks, face.landmarks, atol=1e-3)
        assert again.box == face.box and again.image_size == face.image_size
        assert 0.5 < again.score <= 1


def test_fit_with_a_given_rotation(photo, upright):
    turned, m = _rotate(photo, 180)
    face = analyze(turned)[0]
    given = fit(turned, face.box, rotation=180)
    assert given is not None
    back = _map(given.points.astype(np.float64), np.linalg.inv(m))
    assert np.linalg.norm(back - upright.points, axis=1).mean() < 3
    # told the face is upright when it is upside down: refused, not fitted the wrong way
    assert fit(turned, face.box, rotation=0) is None


def test_fit_outside_the_photo_or_on_nothing_gives_none(pair, upright):
    assert fit(pair[0], (5000, 5000, 5100, 5100)) is None
    blank = np.full_like(pair[0], 90)
    assert fit(blank, upright.box) is None


@pytest.mark.parametrize("degrees", [0, 180, 60])
def test_track_follows_a_shifted_frame(photo, degrees):
    frame, _ = _rotate(photo, degrees)
    face = analyze(frame)[0]
    shift = np.array([9.0, -6.0])
    moved = cv2.warpAffine(frame, np.float64([[1, 0, shift[0]], [0, 1, shift[1]]]),
                           frame.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    followed = track(moved, face)
    assert followed is not None and followed.index == face.index
    assert followed.score == face.score
    error = np.linalg.norm(followed.points - (face.points + shift), axis=1)
    assert error.mean() < 2.5
    # and keeps following frame after frame
    again = track(moved, followed)
    assert again is not None
    assert np.linalg.norm(again.points - followed.points, axis=1).mean() < 2.5


def test_track_loses_a_face_that_is_gone(photo, upright):
    assert track(np.zeros_like(photo), upright) is None
    assert track(np.full_like(photo, 200), upright) is None
    # A face that jumped or changed size too much is not followed (detect again instead),
    # even though the mesh still finds it in the crop.
    size = upright.size
    moved = upright.landmarks.copy()
    moved[:, 0] -= 0.75 * size
    assert track(photo, Face(0, moved, upright.box, upright.score, upright.image_size)) is None
    grown = upright.landmarks.copy()
    grown[:, :2] = upright.centre + 1.8 * (grown[:, :2] - upright.centre)
    assert track(photo, Face(0, grown, upright.box, upright.score, upright.image_size)) is None


# --------------------------------------------------------------------------- threads


def test_other_threads_stderr_is_not_swallowed(capfd, monkeypatch, pair, lisa):
    # The first analysis loads the models (fresh ones here): that and the analyses after it
    # must not swallow what another thread writes to stderr meanwhile.
    monkeypatch.setattr(detect, "_models", detect._Models())
    stop = threading.Event()
    written = []

    def writer():
        i = 0
        while not stop.is_set() or i < 20:
            if i % 2:
                sys.stderr.write(f"other thread line {i}\n")
                sys.stderr.flush()
            else:
                os.write(2, f"other thread line {i}\n".encode())
            written.append(i)
            i += 1
            time.sleep(0.002)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for img in (pair[0], lisa[0], pair[1]):
            assert len(analyze(img)) == 1
    finally:
        stop.set()
        thread.join()
    err = capfd.readouterr().err
    lines = set(err.splitlines())
    lost = [i for i in written if f"other thread line {i}" not in lines]
    assert not lost, f"{len(lost)} of {len(written)} lines lost"
    # MediaPipe's own log lines are kept out
    assert "W0000" not in err and "TensorFlow Lite" not in err


def test_threads_get_the_same_results_as_one_thread(pair, lisa, photo):
    images = [pair[0], pair[1], lisa[0], lisa[2], _rotate(photo, 180)[0], _rotate(photo, 30)[0]]
    serial = [analyze(img) for img in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(analyze, images * 2))
    for expected, got in zip(serial * 2, parallel):
        assert len(got) == len(expected) == 1
        assert np.array_equal(got[0].landmarks, expected[0].landmarks)
        assert got[0].box == expected[0].box and got[0].score == expected[0].score


def test_a_wide_group_is_searched_in_tiles(london, monkeypatch):
    """Four faces spread along a 4000 px row: in the detector's 1024 px copy each is ~40 px
    and the whole-photo pass finds none; the tiles find all four, left to right."""
    people = ["020", "036", "063", "081"]
    tiles = [cv2.resize(london(p)[1], (400, 400), interpolation=cv2.INTER_AREA) for p in people]
    gap = np.full((400, 800, 3), 128, np.uint8)
    row = np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2], gap, tiles[3]], axis=1)
    faces = analyze(row)
    assert len(faces) == 4
    centres = [f.points[:, 0].mean() for f in faces]
    for centre, x in zip(centres, (200, 1400, 2600, 3800)):
        assert abs(centre - x) < 60
    monkeypatch.setattr(detect, "TILE_ASPECT", 1e9)
    assert len(analyze(row)) < 4  # what the tiles are for


@pytest.mark.parametrize("size, side", [((600, 3000), 600), ((3000, 4000), 700), ((500, 500), 256), ((257, 2000), 257)])
def test_tiles_cover_the_photo_with_overlap(size, side):
    h, w = size
    tiles = detect._tiles(size, side)
    covered = np.zeros(size, bool)
    for x0, y0, x1, y1 in tiles:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert x1 - x0 == min(side, w) and y1 - y0 == min(side, h)
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs = sorted({t[0] for t in tiles})
    for a, b in zip(xs, xs[1:]):
        assert b - a <= 0.75 * side + 1  # neighbours overlap by at least a quarter

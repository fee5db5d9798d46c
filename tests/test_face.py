"""Face analysis on real photos: detection, landmarks, pose, regions, cache."""

from __future__ import annotations

import numpy as np
import pytest

from mien import mesh
from mien.detect import analyze
from mien.geometry import similarity


def test_each_lisa_photo_has_one_face_with_478_landmarks(lisa):
    for img in lisa:
        faces = analyze(img)
        assert len(faces) == 1
        f = faces[0]
        assert f.landmarks.shape == (478, 3) and f.landmarks.dtype == np.float32
        h, w = img.shape[:2]
        assert (f.points >= 0).all() and (f.points[:, 0] < w).all() and (f.points[:, 1] < h).all()
        # Anatomy: eyes above the mouth, the subject's left eye on the image's right.
        assert f.points[13, 1] > f.points[159, 1]
        assert f.points[263, 0] > f.points[33, 0]


def test_head_roll_is_measured(lisa):
    # lisa3 is tilted clearly; the others are upright.
    rolls = [analyze(img)[0].pose.angles[2] for img in lisa]
    assert abs(rolls[2]) > 12
    assert all(abs(r) < 8 for i, r in enumerate(rolls) if i != 2)


def test_pose_follows_a_known_rotation(lisa):
    import cv2

    img = lisa[0]
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 15, 1.0)  # counter-clockwise in the image
    rotated = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    before = analyze(img)[0].pose.angles[2]
    after = analyze(rotated)[0].pose.angles[2]
    assert after - before == pytest.approx(-15, abs=3)


def test_no_face_gives_an_empty_result(rng):
    noise = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
    assert analyze(noise) == ()


def test_two_faces_are_numbered_left_to_right(lisa, pair):
    import cv2

    left = cv2.resize(lisa[0], (450, 600))
    right = cv2.resize(pair[0], (600, 600))[:, 75:525]
    both = np.concatenate([left, right], axis=1)
    faces = analyze(both)
    assert len(faces) == 2
    assert faces[0].centre[0] < 450 < faces[1].centre[0]
    assert [f.index for f in faces] == [0, 1]


def test_region_masks_are_nested_and_sized(pair):
    f = analyze(pair[0])[0]
    oval = f.mask("face_oval") > 0
    skin = f.mask("skin") > 0
    lips = f.mask("lips") > 0
    inner = f.mask("mouth_interior") > 0
    for region in mesh.MASK_REGIONS:
        m = f.mask(region)
        assert m.shape == pair[0].shape[:2] and m.dtype == np.uint8 and m.any(), region
    assert (skin <= oval).all() and not (skin & lips).any()
    assert inner.sum() <= lips.sum()
    assert f.mask("left_iris", (100, 100)).shape == (100, 100)
    with pytest.raises(ValueError, match="unknown region"):
        f.mask("ears")


def test_similarity_recovers_a_transform(rng):
    src = rng.normal(size=(40, 3))
    angle = 0.4
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    dst = 2.5 * src @ rot.T + [1, 2, 3]
    s, r, t = similarity(src, dst)
    assert s == pytest.approx(2.5) and np.allclose(r, rot) and np.allclose(t, [1, 2, 3])

"""The Face record on real photos: head pose, region masks, the similarity fit.

Detection and fitting are tested in test_detect.py."""

from __future__ import annotations

import numpy as np
import pytest

from mien import mesh
from mien.detect import analyze
from mien.geometry import similarity


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

"""Compose and texture: blending limits, bit-identical paste, illumination recovery."""

from __future__ import annotations

import numpy as np

from mien.compose import feather, multiband_blend, paste
from mien.image import blur, from_float, to_float
from mien.texture import illumination_gain


def test_multiband_blend_limits(rng):
    a = rng.random((64, 80, 3)).astype(np.float32)
    b = rng.random((64, 80, 3)).astype(np.float32)
    np.testing.assert_allclose(multiband_blend(a, b, np.zeros((64, 80), np.float32)), a, atol=1e-6)
    np.testing.assert_allclose(multiband_blend(a, b, np.ones((64, 80), np.float32)), b, atol=1e-5)


def test_paste_changes_only_marked_pixels(rng):
    original = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    crop = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    changed = np.zeros((20, 30), bool)
    changed[5:10, 5:20] = True
    out = paste(original, crop, 7, 11, changed)
    mask = np.zeros((50, 60), bool)
    mask[11:31, 7:37] = np.pad(changed, 0)
    assert np.array_equal(out[~mask], original[~mask])
    assert np.array_equal(out[11:31, 7:37][changed], crop[changed])


def test_feather_is_soft_and_inside():
    m = np.zeros((80, 80), np.float32)
    m[20:60, 20:60] = 1
    f = feather(m, erode=4, blur=3)
    assert f[40, 40] > 0.99 and f[5, 5] == 0 and 0 < f[22, 40] < 1


def test_illumination_gain_recovers_a_smooth_light_change(rng):
    h, w = 200, 240
    base = np.clip(0.5 + 0.2 * blur(rng.normal(size=(h, w, 3)).astype(np.float32), 2), 0.05, 1)
    yy, xx = np.mgrid[0:h, 0:w] / 240.0
    light = (0.7 + 0.5 * xx)[..., None] * np.array([1.1, 0.9, 0.8], np.float32)
    relit = (base * light).astype(np.float32)
    weight = np.ones((h, w), np.float32)
    weight[80:120, 100:140] = 0  # a region that differs (ignored)
    relit[80:120, 100:140] = 1.0
    gain = illumination_gain(base, relit, weight, sigma=12)
    fixed = relit * gain
    inner = (slice(20, -20), slice(20, -20))
    err = np.abs(fixed - base)[inner]
    err[60:100, 80:120] = 0
    assert err.mean() < 0.02


def test_float_conversions_round_trip(rng):
    for dtype in (np.uint8, np.uint16):
        x = rng.integers(0, np.iinfo(dtype).max + 1, (10, 10, 3), dtype=dtype)
        assert np.array_equal(from_float(to_float(x), dtype), x)

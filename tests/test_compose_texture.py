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


def test_masked_lowpass_averages_only_weighted_pixels(rng):
    from mien.texture import masked_lowpass

    image = np.full((60, 80, 3), 0.3, np.float32)
    image[:, 40:] = 0.9  # unweighted, must not leak in
    weight = np.zeros((60, 80), np.float32)
    weight[:, :40] = 1.0
    out = masked_lowpass(image, weight, 4.0)
    np.testing.assert_allclose(out[:, :30], 0.3, atol=1e-4)
    # Far from any weight, the weighted mean.
    weight_small = np.zeros((60, 80), np.float32)
    weight_small[:5, :5] = 1.0
    out = masked_lowpass(image, weight_small, 2.0)
    np.testing.assert_allclose(out[50:, 60:], 0.3, atol=1e-3)


def test_multiband_blend_transitions_wider_at_low_frequencies():
    """A constant difference across a hard alpha step blends over a wide ramp (the coarse
    levels), not as a plain alpha blend's step; the output stays within [0, 1]."""
    from mien.compose import _levels_for

    base = np.zeros((128, 128, 3), np.float32)
    layer = np.ones((128, 128, 3), np.float32)
    alpha = np.zeros((128, 128), np.float32)
    alpha[:, 64:] = 1.0
    out = multiband_blend(base, layer, alpha)
    row = out[64, :, 0]
    assert 0.05 < row[60] < 0.5 < row[67] < 0.95  # a ramp around the step, not a jump
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert _levels_for((64, 80), 4) == 3 and _levels_for((16, 16), 4) == 1 and _levels_for((512, 512), 4) == 4
    edge = multiband_blend(base, layer * 2.0, alpha)  # overshooting layer: clipped
    assert edge.max() <= 1.0


def test_feather_erodes_then_blurs():
    mask = np.zeros((40, 40), np.float32)
    mask[10:30, 10:30] = 1.0
    eroded = feather(mask, 2, 0)
    assert eroded[12:28, 12:28].min() == 1.0 and eroded[11, 15] == 0.0 and eroded[10:30, 10].max() == 0.0
    soft = feather(mask, 0, 2.0)
    assert 0.3 < soft[20, 10] < 0.7 and soft[20, 20] > 0.99 and soft.dtype == np.float32


def test_white_gain_carries_colour_relative_to_the_sclera():
    from mien.texture import SRGB_GAMMA, white_gain

    white, skin = np.array([0.5, 0.48, 0.47]), np.array([0.45, 0.3, 0.22])
    # Same light: nothing changes.
    np.testing.assert_allclose(white_gain(white, white, 1.0, skin, skin), 1.0, atol=1e-6)
    # A warm cast on the edited photo, seen on its sclera and skin alike: the texture
    # takes exactly that cast (linear gain, applied to sRGB values as gain ** (1 / 2.2)).
    cast = np.array([1.3, 1.0, 0.55])
    g = white_gain(white * cast, white, 1.0, skin * cast, skin)
    assert g.shape == (3,) and g.dtype == np.float32
    np.testing.assert_allclose(g, cast ** (1 / SRGB_GAMMA), rtol=1e-3)
    # Exposure: half the light, half the linear brightness.
    np.testing.assert_allclose(white_gain(white * 0.5, white, 1.0, skin * 0.5, skin), 0.5 ** (1 / SRGB_GAMMA),
                               rtol=1e-3)
    # Darker skin under the same light (another person) changes nothing when the sclera
    # is seen: teeth do not darken with skin.
    np.testing.assert_allclose(white_gain(white, white, 1.0, skin * 0.3, skin), 1.0, atol=1e-3)


def test_white_gain_falls_back_to_damped_skin_and_checks_the_sclera_against_it():
    from mien.texture import SKIN_CHECK, SKIN_STRENGTH, SRGB_GAMMA, white_gain

    white, skin = np.array([0.5, 0.48, 0.47]), np.array([0.45, 0.3, 0.22])
    cast = np.array([1.3, 1.0, 0.55])
    # Sclera not seen: the skin's cast, damped.
    g = np.log(white_gain(np.full(3, 0.3), white, 0.0, skin * cast, skin)) * SRGB_GAMMA
    want = np.log(cast)
    lum = want @ [0.2126, 0.7152, 0.0722]
    np.testing.assert_allclose(g, SKIN_STRENGTH[0] * lum + SKIN_STRENGTH[1] * (want - lum), atol=1e-3)
    # A sclera reading far bluer than the skin says (a misread eye white) is held within
    # about SKIN_CHECK of the skin's colour gain (per channel, before re-centring on grey).
    g = np.log(white_gain(white * [0.5, 1.0, 2.0], white, 1.0, skin, skin)) * SRGB_GAMMA
    chroma = g - g @ [0.2126, 0.7152, 0.0722]
    assert np.abs(chroma).max() <= 1.2 * SKIN_CHECK
    assert chroma[2] > 0.2 and chroma[0] < -0.2
    # Bounded however odd the readings.
    g = white_gain(np.array([1.0, 1e-4, 1e-4]), np.array([1e-4, 1.0, 1.0]), 1.0, np.ones(3), np.ones(3))
    assert np.all(np.isfinite(g)) and g.max() / g.min() < np.exp(2 * 0.9 / SRGB_GAMMA) + 1e-3


def _reference_multiband_blend(base, layer, alpha, levels=4):
    """The blend written plainly (a new array per step), as before it reused its arrays."""
    import cv2

    levels = max(1, min(levels, int(np.log2(max(2, min(base.shape[:2])))) - 3))
    gp_a = [cv2.merge([alpha] * base.shape[2])]
    gp_d = [cv2.subtract(layer, base)]
    for _ in range(levels - 1):
        gp_a.append(cv2.pyrDown(gp_a[-1]))
        gp_d.append(cv2.pyrDown(gp_d[-1]))
    out = cv2.multiply(gp_d[-1], gp_a[-1])
    for i in range(levels - 2, -1, -1):
        size = (gp_d[i].shape[1], gp_d[i].shape[0])
        band = cv2.subtract(gp_d[i], cv2.pyrUp(gp_d[i + 1], dstsize=size))
        out = cv2.add(cv2.pyrUp(out, dstsize=size), cv2.multiply(band, gp_a[i]))
    return np.clip(cv2.add(out, base), 0.0, 1.0)


def test_multiband_blend_in_place_equals_the_plain_pyramid(rng):
    """Reusing the pyramid's arrays (and writing into ``out``, even ``base`` itself) gives
    the same numbers, bit for bit, as building a new array at every step."""
    base = rng.random((150, 170, 3)).astype(np.float32)
    layer = rng.random((150, 170, 3)).astype(np.float32)
    alpha = feather((rng.random((150, 170)) > 0.5).astype(np.float32), 0, 6)
    want = _reference_multiband_blend(base, layer, alpha)
    assert np.array_equal(multiband_blend(base, layer, alpha), want)
    out = np.zeros_like(base)
    assert multiband_blend(base, layer, alpha, out=out) is out and np.array_equal(out, want)
    big = np.pad(base, ((3, 3), (5, 5), (0, 0)))
    region = big[3:-3, 5:-5]
    multiband_blend(region, layer, alpha, out=region)
    assert np.array_equal(big[3:-3, 5:-5], want) and not big[:3].any() and not big[:, :5].any()


def test_paste_keeps_the_dtype_and_every_unmarked_pixel(rng):
    """16-bit, four channels, and more channels than OpenCV's masked copy takes."""
    for dtype, channels in ((np.uint16, 3), (np.uint8, 4), (np.uint16, 6)):
        top = np.iinfo(dtype).max + 1
        original = rng.integers(0, top, (40, 50, channels), dtype=dtype)
        crop = rng.integers(0, top, (20, 24, channels), dtype=dtype)
        changed = rng.random((20, 24)) > 0.5
        out = paste(original, crop, 9, 13, changed)
        want = original.copy()
        want[13:33, 9:33][changed] = crop[changed]
        assert out.dtype == dtype and np.array_equal(out, want)
        assert not np.shares_memory(out, original)


def test_float_round_trip_is_exact_for_every_value():
    """render.execute keeps warped pixels that are neither lit nor blended as integers,
    which is right only if the float32 round trip gives every integer back."""
    for dtype in (np.uint8, np.uint16):
        x = np.arange(np.iinfo(dtype).max + 1, dtype=dtype).reshape(-1, 1, 1)
        assert np.array_equal(from_float(to_float(x), dtype), x)


def _execute_on_the_whole_crop(pixels, p):
    """render.execute as it was written plainly: the whole crop warped and worked in float32."""
    import cv2

    from mien.warp import Grid, apply

    grid = p.grid
    out_crop = to_float(apply(pixels, p.map, grid))
    changed_work = np.abs(p.map - grid.coords()).max(axis=2) > 1e-3
    if p.shading is not None:
        out_crop *= grid.upsample(p.shading)
        np.clip(out_crop, 0.0, 1.0, out=out_crop)
        changed_work |= np.abs(p.shading - 1.0).max(axis=2) > 1e-4
    for lp in p.layers:
        alpha_full = grid.upsample(lp.alpha)
        ys, xs = np.nonzero(alpha_full > 1.0 / 512)
        if ys.size == 0:
            continue
        changed_work |= lp.alpha > 0
        by0, by1 = max(ys.min() - 16, 0), min(ys.max() + 17, alpha_full.shape[0])
        bx0, bx1 = max(xs.min() - 16, 0), min(xs.max() + 17, alpha_full.shape[1])
        sub = Grid(grid.x0 + bx0, grid.y0 + by0, (by1 - by0, bx1 - bx0), grid.size)

        def tex(field):
            full = grid.upsample(field - grid.coords())[by0:by1, bx0:bx1] + sub.full_coords()
            return to_float(cv2.remap(lp.layer.pixels, full[..., 0], full[..., 1], cv2.INTER_CUBIC,
                                      borderMode=cv2.BORDER_REFLECT))

        layer_pixels = tex(lp.map)
        if lp.lower is not None:
            weight = grid.upsample(lp.lower[1])[by0:by1, bx0:bx1, None]
            layer_pixels += weight * (tex(lp.lower[0]) - layer_pixels)
        layer_pixels *= grid.upsample(lp.gain)[by0:by1, bx0:bx1]
        if lp.cavity is not None:
            mask = grid.upsample(lp.cavity[0])[by0:by1, bx0:bx1, None]
            layer_pixels = layer_pixels * (1.0 - mask) + grid.upsample(lp.cavity[1])[by0:by1, bx0:bx1] * mask
        region = out_crop[by0:by1, bx0:bx1]
        out_crop[by0:by1, bx0:bx1] = _reference_multiband_blend(region, layer_pixels,
                                                                alpha_full[by0:by1, bx0:bx1])
    changed = grid.upsample(cv2.dilate(changed_work.astype(np.uint8), np.ones((3, 3), np.uint8))) > 0
    out = pixels.copy()
    h, w = changed.shape
    np.copyto(out[grid.y0:grid.y0 + h, grid.x0:grid.x0 + w], from_float(out_crop, pixels.dtype),
              where=changed[..., None])
    return out


def test_execute_equals_working_the_whole_crop(sessions):
    """render.execute warps only the rectangle it changes and works in float32 only where it
    lights or blends: bit for bit what warping and working the whole crop gives, for a
    burst (texture layers), an edit with shading and a donor mouth, and a brow slider."""
    from mien import render
    from mien.controls import Burst, Request, Shot

    pose, expr = sessions
    for request in (Burst((Shot(expr, "all"),)), Request.from_controls(emotion="happy"),
                    Request.from_controls(brows=0.8)):
        p = render.plan(pose.pixels, pose.scene(request))
        assert np.array_equal(render.execute(pose.pixels, p), _execute_on_the_whole_crop(pose.pixels, p))

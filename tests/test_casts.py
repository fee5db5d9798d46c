"""Colour casts used by the benchmarks and sheets to check edits under other light."""

import numpy as np
import pytest

from mien.evaluation.casts import CASTS, colour_cast
from mien.sclera import encode as linear_to_srgb
from mien.sclera import linear as srgb_to_linear


def test_srgb_round_trip():
    v = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=2e-6)
    # Mid grey in sRGB is about 21 % in linear light.
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.214, abs=1e-3)


def test_unit_gains_keep_the_photo(london):
    px = london("020")[0]
    out = colour_cast(px, (1.0, 1.0, 1.0))
    assert out.dtype == px.dtype and out.shape == px.shape
    assert np.abs(out.astype(int) - px).max() <= 1


@pytest.mark.parametrize("cast", sorted(CASTS))
def test_casts_move_colour_the_named_way(london, cast):
    px = london("020")[0]
    mean_in = srgb_to_linear(px.reshape(-1, 3) / 255.0).mean(axis=0)
    mean_out = srgb_to_linear(colour_cast(px, cast).reshape(-1, 3) / 255.0).mean(axis=0)
    r, g, b = mean_out / mean_in
    if cast == "warm":
        assert r > 1.1 and b < 0.7
    elif cast == "cool":
        assert b > 1.1 and r < 0.9
    elif cast == "green":
        assert g > 1.05 and r < 0.95 and b < 0.95
    elif cast == "dim":
        assert max(r, g, b) < 0.4
    else:  # bright: clipped highlights keep it below the full gain
        assert 1.3 < g < 1.9

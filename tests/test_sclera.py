"""The eye whites as the photo's white reference: colour follows the light, confidence
falls when no eye white is seen."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mien import mesh, sclera
from mien.detect import analyze
from mien.image import from_float, to_float


def _cast(pixels, gains):
    """``pixels`` under a per-channel gain in linear light (as another white balance)."""
    return from_float(sclera.encode(sclera.linear(to_float(pixels)) * np.float32(gains)), pixels.dtype)


@pytest.fixture(scope="module")
def photo(pair):
    neutral = pair[0]
    return neutral, analyze(neutral)[0]


def test_srgb_decoding_round_trips_and_is_the_standard_curve():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(sclera.encode(sclera.linear(x)), x, atol=1e-5)
    assert sclera.linear(np.float32(0.5)) == pytest.approx(0.2140, abs=1e-4)
    assert sclera.linear(np.float32(0.02)) == pytest.approx(0.02 / 12.92, rel=1e-4)


def test_open_eyes_give_a_bright_near_neutral_white_with_full_confidence(london):
    for person in ("020", "036", "063", "081"):
        neutral, _ = london(person)
        face = analyze(neutral)[0]
        s = sclera.measure(neutral, face)
        assert s.confidence > 0.8, person
        assert s.colour.shape == (3,) and s.colour.dtype == np.float64
        # Brighter than the iris and lashes around it, and near grey under studio light.
        assert 0.2 < s.colour.mean() < 0.9, person
        assert s.colour.max() / s.colour.min() < 1.35, person


@pytest.mark.parametrize("gains", [(1.30, 1.0, 0.55), (0.80, 0.97, 1.30), (0.35, 0.35, 0.35)])
def test_the_sclera_colour_follows_a_colour_cast(photo, gains):
    pixels, face = photo
    plain = sclera.measure(pixels, face)
    cast = sclera.measure(_cast(pixels, gains), face)
    # The same light change, measured per channel in linear light (within ~10 %).
    np.testing.assert_allclose(cast.colour / plain.colour, gains, rtol=0.05)
    np.testing.assert_allclose(cast.skin / plain.skin, gains, rtol=0.1)
    assert cast.confidence > 0.8


def _narrowed(face, keep):
    """``face`` with both eye openings narrowed to ``keep`` of their height (lid points
    moved toward the line between the eye corners)."""
    lm = face.landmarks.copy()
    for contour, (a, b) in ((mesh.LEFT_EYE, (263, 362)), (mesh.RIGHT_EYE, (33, 133))):
        for i in contour:
            t = np.dot(lm[i, :2] - lm[a, :2], lm[b, :2] - lm[a, :2]) / np.sum((lm[b, :2] - lm[a, :2]) ** 2)
            on_line = lm[a, :2] + t * (lm[b, :2] - lm[a, :2])
            lm[i, :2] = on_line + keep * (lm[i, :2] - on_line)
    return dataclasses.replace(face, landmarks=lm)


def test_closed_or_narrowed_eyes_give_little_confidence(photo):
    pixels, face = photo
    assert sclera.measure(pixels, _narrowed(face, 0.0)).confidence < 0.1
    # Half-closed eyes show a few eye-white pixels: some confidence, far from full.
    assert sclera.measure(pixels, _narrowed(face, 0.5)).confidence < 0.5


def test_sunglasses_give_little_confidence(photo):
    pixels, face = photo
    dark = pixels.copy()
    import cv2

    for region in ("left_eye", "right_eye"):
        poly = face.polygon(region)
        centre = poly.mean(axis=0)
        big = np.round(centre + 1.6 * (poly - centre)).astype(np.int32)
        cv2.fillPoly(dark, [big], (28, 26, 30))
    # A dark lens with a faint grey reflection: no bright eye white against the skin.
    s = sclera.measure(dark, face)
    assert s.confidence < 0.2
    assert sclera.measure(pixels, face).confidence > 0.8

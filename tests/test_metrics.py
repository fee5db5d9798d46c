"""Measurement code used by the benchmarks: image metrics and the emotion classifier."""

from __future__ import annotations

import numpy as np
import pytest

from mien.detect import analyze
from mien.evaluation.metrics import EMOTION_LABELS, EmotionClassifier, mae, psnr, region_mask, ssim


def test_image_metrics_on_known_pairs(pair, rng):
    img = pair[0]
    mask = region_mask(analyze(img)[0])
    assert psnr(img, img, mask) > 100 and mae(img, img, mask) == 0 and ssim(img, img, mask) == pytest.approx(1.0)
    noisy = np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    assert 20 < psnr(noisy, img, mask) < 35
    assert ssim(noisy, img, mask) < 0.9
    assert mae(noisy, img, mask) == pytest.approx(10 / 255, rel=0.15)


def test_the_classifier_tells_real_smiles_from_neutral_faces(london):
    clf = EmotionClassifier()
    for person in ("063", "036", "081"):
        neutral, happy = london(person)
        probs = clf.probabilities(happy, analyze(happy)[0])
        assert set(probs) == set(EMOTION_LABELS) and sum(probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert clf.label(happy, analyze(happy)[0]) == "happy"
        assert clf.label(neutral, analyze(neutral)[0]) == "neutral"

"""scripts/fit_emotions.py: which prototype an emotion is fitted near."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
fit_emotions = pytest.importorskip("fit_emotions")


def test_a_named_emfacs_variant_replaces_the_facs_prototype_only_for_its_emotion():
    from mien.expression import FACS_EMOTIONS

    variants = {"angry": "open"}
    assert fit_emotions.prototype("angry", variants) == fit_emotions.VARIANTS["angry"]["open"]
    assert fit_emotions.prototype("surprised", variants) == FACS_EMOTIONS["surprised"]
    assert fit_emotions.prototype("angry", {}) == FACS_EMOTIONS["angry"]
    # A copy: the fit may change it without changing the table.
    fit_emotions.prototype("angry", variants)["4"] = 9.0
    assert fit_emotions.VARIANTS["angry"]["open"]["4"] != 9.0


def test_every_variant_uses_only_the_action_units_its_emotion_may_search():
    """A variant AU the search may not move would be dropped from the prototype silently."""
    for emotion, named in fit_emotions.VARIANTS.items():
        allowed = set(fit_emotions.TARGETS[emotion][1])
        for name, mix in named.items():
            assert set(mix) <= allowed, (emotion, name)
            assert all(0 < v <= fit_emotions.AU_MAX for v in mix.values()), (emotion, name)

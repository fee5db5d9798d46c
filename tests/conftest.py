"""Shared fixtures: the licensed test photos in tests/data (see its README for attribution)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mien

DATA = Path(__file__).resolve().parent / "data"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test data missing: {path} (tests/data is part of the repository)")
    return path


@pytest.fixture(scope="session")
def data() -> Path:
    return _need(DATA)


@pytest.fixture(scope="session")
def london(data):
    """Function returning (neutral, happy) uint8 RGB arrays of a London subject."""

    def load(person: str = "020"):
        d = _need(data / "london" / person)
        return mien.read_photo(d / "neutral.jpg").pixels, mien.read_photo(d / "happy.jpg").pixels

    return load


@pytest.fixture(scope="session")
def pair(london):
    return london("020")


@pytest.fixture(scope="session")
def lisa(data):
    return [mien.read_photo(_need(data / "lisa" / f"lisa{i}.jpg")).pixels for i in range(1, 5)]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def sessions(pair):
    """(pose, expression) Sessions on the London 020 pair: analysed once for all tests."""
    from mien.session import Session

    pose, expr = pair
    return Session(pose), Session(expr)

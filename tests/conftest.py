"""Shared fixtures: paths to ../shared/validation (skip cleanly when absent) and synthetic scenes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOLARKATASTER_SHARED", REPO.parent / "shared")) / "validation"


def shared_file(*parts) -> Path:
    """Path of a file in ../shared/validation, or skip the test when it is not there."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"validation data not available: {p}")
    return p


@pytest.fixture
def shared():
    return shared_file


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_ZIP = ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own data cache so tests never see each other's files."""
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    yield


@pytest.fixture
def cifar_zip():
    if not SHARED_ZIP.exists():
        pytest.skip("../shared/data/cifar10-jpeg.zip is not present")
    return SHARED_ZIP

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never touch the user's cache folder from the CLI tests."""
    monkeypatch.setenv("NAPSTREAM_CACHE_DIR", str(tmp_path / "default-cache"))

import pytest


@pytest.fixture(autouse=True, scope="session")
def _session_cache(tmp_path_factory):
    """Evaluations cache compiled baselines and peak rates: share them within the test session only."""
    mp = pytest.MonkeyPatch()
    mp.setenv("KERNELSWARM_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()

import pytest


@pytest.fixture(autouse=True, scope="session")
def _own_device_locks(tmp_path_factory):
    """Device locks of this test session only: evaluations in other sessions or runs on the same
    machine (another checkout's tests, a real run) neither wait for these nor make them wait."""
    mp = pytest.MonkeyPatch()
    mp.setenv("KERNELSWARM_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))
    yield
    mp.undo()

import os

import pytest

# The command line's tables take a terminal's width from COLUMNS (cli/common.py), read when it is
# imported; the tests read its output as a pipe's, whole. pytest-xdist's workers (and some shells)
# set COLUMNS=80, which cut table cells across lines (test_run_summary_and_export failed so).
os.environ.pop("COLUMNS", None)


@pytest.fixture(autouse=True, scope="session")
def _own_device_locks(tmp_path_factory):
    """Device locks of this test session only: evaluations in other sessions or runs on the same
    machine (another checkout's tests, a real run) neither wait for these nor make them wait."""
    mp = pytest.MonkeyPatch()
    mp.setenv("KERNELSWARM_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))
    yield
    mp.undo()


def pytest_runtest_logreport(report):
    """With KERNELSWARM_TEST_LOG set, each test's outcome and, for a failure, its report are
    appended to that file as the test finishes: on a lent GPU machine a command's time limit can
    kill pytest before its summary, and the reasons must survive (scripts/gpu_batch.sh)."""
    import os

    path = os.environ.get("KERNELSWARM_TEST_LOG")
    if not path or (report.when != "call" and report.passed):
        return
    with open(path, "a") as f:
        f.write(f"{report.nodeid} {report.when} {report.outcome} {report.duration:.1f}s\n")
        if report.failed:
            f.write(str(report.longrepr)[-4000:] + "\n\n")

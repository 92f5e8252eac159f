"""The report opens in headless Chromium with no console errors; its screenshot goes to the docs.

Needs Debian's chromium package (/usr/bin/chromium); skipped without it. Set
KERNELSWARM_DOCS_SCREENSHOT=1 to refresh docs/report-screenshot.png from this test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kernelswarm.report import report_data_from_store, write_report

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed "
                                "(/usr/bin/chromium; Debian: apt-get install chromium)")


def render(page: Path, tmp: Path, size: str = "1280,2400") -> tuple[list[str], Path]:
    """Open `page` headless; return the console messages Chromium logged and a screenshot."""
    shot = tmp / "shot.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
           f"--window-size={size}", f"--screenshot={shot}", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    # Every console message (console.error, uncaught exceptions, failed loads) is logged as
    # "...:CONSOLE(line)] "text", source: ..."; the page itself never logs, so any one is a failure.
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert shot.exists(), f"chromium wrote no screenshot (status {proc.returncode}): {proc.stderr[-2000:]}"
    return console, shot


def test_the_check_catches_a_broken_page(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();</script></body></html>")
    console, _ = render(bad, tmp_path, "400,300")
    assert any("Uncaught ReferenceError" in line for line in console)


def test_report_renders_without_console_errors(store_path, tmp_path):
    page = write_report(report_data_from_store(store_path), tmp_path / "out")
    console, shot = render(page, tmp_path)
    assert console == []
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000  # a real page, not a blank one
    if os.environ.get("KERNELSWARM_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)

"""Fixtures of the scale-out tests."""

from __future__ import annotations

import pytest
from scale_fakes import fake_baselines, fake_evaluate, no_screen

import kernelswarm.supervisor as supervisor_module


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(supervisor_module, "_real_evaluator", lambda: fake_evaluate)
    monkeypatch.setattr(supervisor_module, "_real_baseline_timer", lambda: fake_baselines)
    monkeypatch.setattr(supervisor_module, "_real_screener", lambda lock, gpu=None: no_screen(lock))


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")

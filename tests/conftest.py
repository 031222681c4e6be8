"""Shared fixtures: paths to ../shared/validation and synthetic scenes; the real-data test report.

A test is a real-data test when it (or one of its fixtures) calls :func:`shared_file`, or when it is marked
``real_data``. Without ../shared/validation those tests skip cleanly. When the folder is present, every one
of them must run: a missing file or a skip is a failure (CI has the folder, so CI runs them all). The
terminal summary lists which real-data tests ran and their outcome.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOLARKATASTER_SHARED", REPO.parent / "shared")) / "validation"

_current = {"test": None, "fixtures": []}  # what is running now, so shared_file can tell who called it
_real_data_tests: set[str] = set()  # node ids that called shared_file (in the test or its own fixtures)
_real_data_fixtures: set[str] = set()  # fixture names whose setup called shared_file
_outcomes: dict[str, str] = {}


def shared_file(*parts) -> Path:
    """Path of a file in ../shared/validation.

    Skips the test when the folder is absent; fails it when the folder is present but the file is not.
    """
    if _current["fixtures"]:
        _real_data_fixtures.add(_current["fixtures"][-1])
    if _current["test"] is not None:
        _real_data_tests.add(_current["test"])
    p = SHARED.joinpath(*parts)
    if not p.exists():
        if SHARED.is_dir():
            pytest.fail(f"{SHARED} is present but {p.relative_to(SHARED)} is missing: real-data tests must run")
        pytest.skip(f"validation data not available: {p}")
    return p


@pytest.fixture
def shared():
    return shared_file


@pytest.fixture(autouse=True)
def _unfrozen_heap():
    """Give the garbage collector back what a command froze (:func:`solarkataster.heap.freeze_imported`).

    The CLI freezes its heap for a process that ends with the run; the tests run the commands in this one.
    """
    yield
    import gc

    gc.unfreeze()


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data: uses ../shared/validation (a skip fails when it is present)")


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    _current["fixtures"].append(fixturedef.argname)
    try:
        yield
    finally:
        _current["fixtures"].pop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _current["test"] = item.nodeid
    try:
        yield
    finally:
        _current["test"] = None


def _is_real_data(item):
    return (item.nodeid in _real_data_tests or item.get_closest_marker("real_data") is not None
            or any(name in _real_data_fixtures for name in getattr(item, "fixturenames", ())))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not _is_real_data(item):
        return
    if report.skipped and not hasattr(report, "wasxfail") and SHARED.is_dir():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"real-data test skipped although {SHARED} is present: {reason}"
    if report.failed:
        result = "failed" if report.when == "call" else "error"
    elif hasattr(report, "wasxfail"):
        result = "xfailed" if report.skipped else "xpassed"
    elif report.skipped:
        result = "skipped"
    elif report.when == "call":
        result = "passed"
    else:
        return
    report.user_properties.append(("real_data_outcome", result))  # travels to the xdist controller too


def pytest_runtest_logreport(report):
    for key, result in report.user_properties:
        if key == "real_data_outcome" and (result != "passed" or report.nodeid not in _outcomes):
            _outcomes[report.nodeid] = result


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    where = f"{SHARED} present" if SHARED.is_dir() else f"{SHARED} absent: they skip"
    terminalreporter.write_sep("-", f"real-data tests ({where})")
    if not _outcomes:
        terminalreporter.write_line("none collected in this run")
        return
    counts: dict[str, int] = {}
    for nodeid, result in sorted(_outcomes.items()):
        counts[result] = counts.get(result, 0) + 1
        terminalreporter.write_line(f"{result:8s} {nodeid}")
    terminalreporter.write_line(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))

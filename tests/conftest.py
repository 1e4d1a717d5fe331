"""Shared test set-up: the opt-in real-data tests, and 'no tests' never failing a run."""

import os
from pathlib import Path

import pytest

DATA_ENV = "TUTORIALS_DATA_DIR"


def pytest_addoption(parser):
    parser.addoption("--data-dir", default=os.environ.get(DATA_ENV),
                     help=f"folder with the real datasets; turns on tests marked 'data' "
                          f"(default: ${DATA_ENV})")


def pytest_collection_modifyitems(config, items):
    data_dir = config.getoption("--data-dir")
    if data_dir and Path(data_dir).is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the real datasets: pytest --data-dir=DIR or {DATA_ENV}")
    for item in items:
        if "data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def data_dir(request):
    return Path(request.config.getoption("--data-dir"))


def pytest_sessionfinish(session, exitstatus):
    # A selection that happens to contain no tests (say, only data tests without data) is not
    # a failure.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"

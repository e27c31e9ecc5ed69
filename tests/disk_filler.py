"""A pytest plugin for tests/test_disk_full.py (``-p tests.disk_filler``): a disk that fills while a case runs.

``$LOADERBENCH_TEST_FILL`` is ``FOLDER:CASE:LEAVE``: when the first test whose id contains ``CASE`` is about to
run its body (its fixtures set up, the suite's own free-space check passed), a file in ``FOLDER`` takes all the
free space of its file system but ``LEAVE`` bytes, and stays: what another job on a shared disk does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_done: list[Path] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    folder, case, leave = os.environ["LOADERBENCH_TEST_FILL"].rsplit(":", 2)
    if _done or case not in item.nodeid:
        return
    filler = Path(folder) / "filler"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(filler, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(0, free - int(leave)))
    _done.append(filler)

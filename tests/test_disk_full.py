"""A disk that fills during a file-cache case: that case fails with one line (where, how much is free, what to
do) and nothing else, the file-cache cases after it check the disk again and are skipped with the reason, and
the other cases' JSON is written (``benchmarks/conftest.py``, :func:`pipelines.caches.folders.disk_full`)."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from pipelines.caches.folders import disk_full, disk_full_line
from tests.helpers import bench_run

#: The file caches' file system: 8 MB, then all but this much taken as the first file case starts (1.8 MB
#: predicted for 12 images: the cases after it no longer fit).
DISK_SIZE, LEFT_FREE = "8m", 200_000


def test_a_full_disk_is_told_from_other_errors_through_chained_errors():
    assert disk_full(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    tensorflow_says = RuntimeError("/tmp/c/tfdata-uint8.tfcache_0.data.tempstate1; No space left on device "
                                   "[Op:IteratorGetNext]")  # ResourceExhaustedError's message, as measured
    assert disk_full(tensorflow_says)
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as error:
            raise ValueError("while writing the cache") from error
    except ValueError as chained:
        assert disk_full(chained)
    assert not disk_full(OSError(errno.EACCES, "Permission denied")) and not disk_full(ValueError("other"))
    assert not disk_full(None)


def test_the_line_names_the_folder_the_bytes_free_and_the_option(tmp_path):
    line = disk_full_line(tmp_path, 196_608)
    assert line.startswith(f"the disk filled up while this case wrote its file cache in {tmp_path}: 196.6 KB "
                           "(196,608 bytes) free there now")
    assert "--cache-dir" in line and "\n" not in line


@pytest.fixture()
def small_disk(tmp_path: Path):
    """An 8 MB tmpfs at ``tmp_path/cache`` (root only), unmounted afterwards."""
    folder = tmp_path / "cache"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize(("selection", "outcome"), [
    ("throughput and (tfdata-file-uint8-warm or kerasdir-file-uint8 or tfdata-none-uint8-warm)",
     "1 failed, 1 passed, 2 skipped"),
    ("throughput and (tfdata-file-uint8-warm or kerasdir-file-uint8)", "1 failed, 2 skipped"),  # none finished
], ids=["beside-another-case", "alone"])
def test_a_disk_that_fills_during_a_file_cache_case(tmp_path, small_disk, selection, outcome):
    report = tmp_path / "run.json"
    done = bench_run(tmp_path, "-p", "tests.disk_filler", "-rs", "-k", selection, "--images", "12", "--batch-size",
                     "4", "--rounds", "1", "--min-round-s", "0", "--cache-dir", str(small_disk),
                     f"--benchmark-json={report}",
                     env={**os.environ, "LOADERBENCH_TEST_FILL": f"{small_disk}:tfdata-file-uint8-warm:{LEFT_FREE}"})
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert re.search(rf"^{outcome}, \d+ deselected in ", done.stdout, re.MULTILINE), done.stdout[-3000:]  # no error
    for noise in ("error", "ResourceExhaustedError", "Traceback", "fixture was not used", "INTERNALERROR"):
        assert noise not in done.stdout, done.stdout[-3000:]
    assert f"the disk filled up while this case wrote its file cache in {small_disk}: " in done.stdout
    assert done.stdout.count("exceeds disk: the uint8 file cache of 12 images is predicted at 1.8 MB") == 1
    assert f"free in {small_disk} -- choose another --cache-dir (checked again as the case started)" in done.stdout
    if "passed" in outcome:
        cases = [b["extra_info"]["case"] for b in json.loads(report.read_text())["benchmarks"]]
        assert cases == ["tfdata-none-uint8"]
    else:
        assert "Not saving anything, no benchmarks have been run!" in output and not report.exists()

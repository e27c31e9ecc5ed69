"""A benchmark run stopped part-way (Ctrl-C, ``kill``) writes the JSON of the cases it finished and exits with
pytest's status for an interrupt (2), instead of failing in pytest-benchmark's writer and losing them all
(:mod:`pipelines.harness.interrupt`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.harness.interrupt import drop_unfinished
from tests.helpers import ROOT, wait_until

#: How long the child may take to import TensorFlow, make the dataset and finish its first case (a busy 2-core
#: machine: ~20 s measured).
FIRST_CASE_S = 240.0
FIRST, SECOND = "tfdata-none-uint8-cold", "tfdata-none-uint8-warm"


def _stopped_run(tmp_path: Path, signum: int) -> tuple[int, str, Path]:
    """``pytest benchmarks`` on 12 images, two cases of 4 rounds of 1 s; ``signum`` sent a second into the second
    case, well inside its 4 s of rounds (the first has passed); its exit status, output and JSON path."""
    report = tmp_path / "run.json"
    log = tmp_path / "out.txt"
    env = {**os.environ, "LOADERBENCH_DATA": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "pytest", "benchmarks/test_throughput.py", "-p", "no:cacheprovider", "-v",
               "-k", f"{FIRST} or {SECOND}", "--images", "12", "--batch-size", "4", "--rounds", "4",
               "--min-round-s", "1", f"--benchmark-json={report}"]
    with open(log, "w") as out:
        # A Ctrl-C as from a terminal: a shell's background job (`tox -e tests &`) passes SIGINT on ignored, and an
        # ignored SIGINT stays ignored across exec.
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            wait_until(lambda: f"[{FIRST}] PASSED" in log.read_text(), FIRST_CASE_S, "the first case to pass")
            time.sleep(1.0)  # the second case calibrates (well under a second), then times 4 rounds of >= 1 s
            assert child.poll() is None, log.read_text()[-3000:]
            child.send_signal(signum)
            status = child.wait(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return status, log.read_text(), report


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_writes_the_cases_it_finished_and_exits_2(tmp_path, signum):
    status, output, report = _stopped_run(tmp_path, signum)
    assert status == 2, output[-3000:]
    for fault in ("min() arg is an empty sequence", "INTERNALERROR", "Traceback", "ValueError"):
        assert fault not in output, output[-3000:]
    assert report.is_file(), output[-3000:]
    cases = [bench["extra_info"]["case"] + "-" + bench["extra_info"]["epoch"]
             for bench in json.loads(report.read_text())["benchmarks"]]
    assert cases == [FIRST], cases
    assert ("loaderbench: left out of the results, not finished (interrupted or failed): "
            f"test_throughput[{SECOND}]") in output


class _Case(SimpleNamespace):
    def __bool__(self) -> bool:  # pytest-benchmark's Metadata: true when it has rounds
        return bool(self.data)


def test_cases_without_rounds_or_without_their_record_are_dropped():
    finished = _Case(name="a", data=[0.1], extra_info={"case": "a"})
    benchmarks = [finished, _Case(name="b", data=[], extra_info={}),  # interrupted before its first round ended
                  _Case(name="c", data=[0.1], extra_info={})]  # interrupted after a round, before its record
    assert drop_unfinished(benchmarks) == ["b", "c"] and benchmarks == [finished]

"""Nothing left behind: a run killed outright (``kill -9``: no ``finally``, no ``atexit``) leaves no process that
outlives it, and the folders it could not remove are removed by the next run, which says so.

Each scenario starts the real thing in a child process on the tiny dataset, waits until it is where a kill
hurts (its scratch folder exists, its workers or children run), kills it with SIGKILL, and then checks: every
process it had started is gone within a generous bound (the machine is busy), what it left is there, and the
next run (or the sweep it begins with) removes that and names it on stderr.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from pipelines.cleanup.children import child_environment
from pipelines.cleanup.scratch import MARKER, PREFIX
from tests.helpers import gone, wait_until

ROOT = Path(__file__).resolve().parent.parent
#: How long a child may take to get where the test kills it: it imports TensorFlow (several seconds on a busy
#: 2-core machine, more with a tf.data service's children importing it at the same time).
READY_S = 240.0
#: How long the processes a killed run started may take to notice and exit (they poll every 0.2-0.5 s).
GONE_S = 60.0
#: What the sweep prints when it removes folders of killed runs (pipelines/scratch.py).
SWEPT = "scratch folder(s) left by killed runs"


# --- helpers --------------------------------------------------------------------------------------------------


class Run:
    """A child ``python -c script args...`` in the checkout, its temporary folder ``tmp`` (``TMPDIR``), its stderr
    in a file; ``ready()`` waits for the line it prints once it is in the state the test kills it in."""

    def __init__(self, script: str, args, tmp_path: Path, python: str = sys.executable):
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.stderr_path = tmp_path / "killed-run.stderr"
        self.stderr = open(self.stderr_path, "wb")
        env = child_environment({"TMPDIR": str(self.tmp)})
        self.process = subprocess.Popen([python, "-c", script, *map(str, args)], cwd=ROOT, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr)
        self.started: list[psutil.Process] = []  # every process seen under it, for the fixture's clean-up

    def stderr_text(self) -> str:
        self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def ready(self, word: str = "ready", timeout_s: float = READY_S) -> str:
        """The rest of the child's first stdout line that starts with ``word``."""
        buffer = b""
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                for line in buffer.split(b"\n")[:-1]:
                    if line.startswith(word.encode()):
                        return line[len(word):].decode().strip()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the run did not get ready within {timeout_s:g} s:\n{self.stderr_text()}")
                if selector.select(min(left, 0.5)):
                    chunk = os.read(self.process.stdout.fileno(), 4096)
                    if not chunk:
                        raise AssertionError(f"the run exited ({self.process.wait()}) before it was ready:\n"
                                             f"{self.stderr_text()}")
                    buffer += chunk

    def descendants(self) -> set[int]:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return set()
        self.started.extend(children)
        return {p.pid for p in children}

    def kill(self) -> set[int]:
        """SIGKILL the run; the processes it had started (to check they are gone)."""
        started = self.descendants()
        self.close()
        return started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process.stdout.close()
        self.stderr.close()


@pytest.fixture()
def killed_runs():
    """Runs a test started; any still going at its end are killed (a failed test leaves nothing either)."""
    runs: list[Run] = []
    yield runs
    for run in runs:
        if run.process.poll() is None:
            run.descendants()
        run.close()
        for process in run.started:
            try:
                process.kill()  # psutil checks it is still that process, not a reused pid
            except psutil.Error:
                pass


def assert_outlived_by_none(pids: set[int]) -> None:
    wait_until(lambda: gone(pids), GONE_S, f"processes {sorted(pids)} outlived the killed run")


def scratch_folders(parent: Path, kind: str = "") -> list[Path]:
    return sorted(p for p in parent.glob(f"{PREFIX}{kind}*") if (p / MARKER).is_file())


# --- a file-cache case ----------------------------------------------------------------------------------------

_FILE_CACHE_EPOCH = """
import sys, time
from pipelines.datasets import index_dataset
from pipelines.loaders import open_pipeline
from tests.conftest import SMALL_CONTRACT
contract = SMALL_CONTRACT.with_(cache="file", cache_dir=sys.argv[2])
with open_pipeline("tfdata", index_dataset(sys.argv[1]), contract) as pipeline:
    batches = pipeline.epoch()
    next(batches)  # the cache is being written
    print("ready", pipeline.cache_prefix, flush=True)
    time.sleep(600)
"""


def test_a_killed_file_cache_case_leaves_its_cache_to_the_next_run(tiny_dataset, tmp_path, killed_runs, capsys):
    """killed mid-epoch, a file-cache case leaves its cache folder; the next file-cache pipeline in that cache
    folder removes it and says so, and still reads every image"""
    from pipelines.caches.folders import cache_files
    from pipelines.loaders import open_pipeline
    from tests.conftest import SMALL_CONTRACT

    caches = tmp_path / "caches"
    run = Run(_FILE_CACHE_EPOCH, [tiny_dataset.root, caches], tmp_path)
    killed_runs.append(run)
    prefix = Path(run.ready())
    assert_outlived_by_none(run.kill())
    left, = scratch_folders(caches, "cache-")
    assert prefix.parent == left and cache_files(prefix)  # as the kill left them (11 images: maybe all written)
    capsys.readouterr()
    with open_pipeline("tfdata", tiny_dataset, SMALL_CONTRACT.with_(cache="file", cache_dir=caches)) as pipeline:
        assert sum(int(x.shape[0]) for x, _ in pipeline.epoch()) == tiny_dataset.images
        assert not left.exists()
        assert scratch_folders(caches) == [pipeline.cache_prefix.parent]
    err = capsys.readouterr().err
    assert f"removed 1 {SWEPT}" in err and str(left) in err
    assert scratch_folders(caches) == []


# --- a tf.data service case -----------------------------------------------------------------------------------

_SERVICE_EPOCH = """
import sys, time
from pipelines.datasets import index_dataset
from pipelines.loaders import open_pipeline
from pipelines.dataservice.local import LocalService
from tests.conftest import SMALL_CONTRACT
service = LocalService(1)
address = service.start()
with open_pipeline("tfdata-service", index_dataset(sys.argv[1]), SMALL_CONTRACT.with_(service_address=address)) \\
        as pipeline:
    batches = pipeline.epoch()
    next(batches)
    print("ready", *service.pids, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_service_case_leaves_no_service_process(tiny_dataset, tmp_path, killed_runs):
    """killed mid-epoch, a tf.data service case's dispatcher and worker exit on their own, and nothing of the
    run is left in its temporary folder (the children's logs are unlinked files)"""
    run = Run(_SERVICE_EPOCH, [tiny_dataset.root], tmp_path)
    killed_runs.append(run)
    pids = {int(pid) for pid in run.ready().split()}
    assert len(pids) == 2 and not gone(pids)
    started = run.kill()
    assert pids <= started
    assert_outlived_by_none(started)
    assert not list(run.tmp.glob(f"{PREFIX}*"))


# --- an idg-processes epoch -----------------------------------------------------------------------------------

_WORKERS_EPOCH = """
import sys, time
from pipelines.datasets import index_dataset
from pipelines.loaders import open_pipeline
from tests.conftest import SMALL_CONTRACT
with open_pipeline(sys.argv[2], index_dataset(sys.argv[1]), SMALL_CONTRACT.with_(parallelism=2)) as pipeline:
    batches = pipeline.epoch()
    next(batches)  # the workers are started and loading
    print("ready", flush=True)
    time.sleep(600)
"""

_GRAIN_STARTING = """
import sys, threading, time
import psutil
from pipelines.datasets import index_dataset
from pipelines.loaders import open_pipeline
from tests.conftest import SMALL_CONTRACT
with open_pipeline("grain", index_dataset(sys.argv[1]), SMALL_CONTRACT.with_(parallelism=2)) as pipeline:
    threading.Thread(target=lambda: next(pipeline.epoch()), daemon=True).start()
    while len(psutil.Process().children()) < 2:  # spawned, still importing: killed before they are ready
        time.sleep(0.01)
    print("ready", flush=True)
    time.sleep(600)
"""

_IDG_PROCESSES_FIT = """
import sys, time
import keras
from pipelines.datasets import index_dataset
from pipelines.loaders import open_pipeline
from tests.conftest import SMALL_CONTRACT

class Hold(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ready", flush=True)  # Keras' worker pool is forked and loading
        time.sleep(600)

# One image a batch: more batches than the enqueuer's queue holds, so its pool still runs at the first step.
contract = SMALL_CONTRACT.with_(parallelism=2, batch_size=1)
with open_pipeline("idg-processes", index_dataset(sys.argv[1]), contract) as pipeline:
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(pipeline.fit_input, epochs=1, verbose=0, callbacks=[Hold()])
"""


@pytest.mark.parametrize(("loader", "script"), [("idg-processes", _WORKERS_EPOCH),
                                               ("idg-processes", _IDG_PROCESSES_FIT), ("grain", _WORKERS_EPOCH),
                                               ("grain", _GRAIN_STARTING)],
                         ids=["epoch", "model.fit", "grain", "grain-starting"])
def test_a_killed_epoch_leaves_no_worker(tiny_dataset, tmp_path, killed_runs, loader, script):
    """killed mid-epoch, a loader's worker processes exit on their own: ImageDataGenerator's forked ones, those of
    the benchmarks' epoch (a process pool) and of Keras' own enqueuer under model.fit, and those Grain spawns
    (mp_prefetch), also when the run is killed while they are still starting"""
    from pipelines.loaders.registry import LOADER_SPECS

    if LOADER_SPECS[loader].missing():
        pytest.skip(LOADER_SPECS[loader].missing())
    run = Run(script, [tiny_dataset.root, loader], tmp_path)
    killed_runs.append(run)
    run.ready()
    workers = run.kill()
    assert len(workers) >= 2, workers
    assert_outlived_by_none(workers)


# --- the study's children -------------------------------------------------------------------------------------

_STUDY_LEVELS = """
import sys
from pathlib import Path
from pipelines.loaders.contract import Contract
from pipelines.study.children import measure_levels
from pipelines.study.settings import StudySettings
print("ready", flush=True)
measure_levels(StudySettings(preset="smoke", sizes=(12, 24, 36), rounds=1, data_root=Path(sys.argv[1]),
                             contract=Contract(cache_dir=Path(sys.argv[2]))))
"""


def _levels_settings(data: Path, caches: Path):
    from pipelines.loaders.contract import Contract
    from pipelines.study.settings import StudySettings

    return StudySettings(preset="smoke", sizes=(12, 24, 36), rounds=1, data_root=data,
                         contract=Contract(cache_dir=caches))


@pytest.mark.slow
def test_a_killed_study_leaves_no_child_and_the_next_run_sweeps_its_scratch(tmp_path, killed_runs, capsys,
                                                                              monkeypatch):
    """the study killed while its one-core child measures: the child exits on its own (it is frozen from just
    before the kill until after it, so it cannot simply have finished), leaving the study's scratch folder; the
    next study's first child removes it and names it"""
    from pipelines.study import children as cores

    caches = tmp_path / "caches"
    run = Run(_STUDY_LEVELS, [tmp_path / "data", caches], tmp_path)
    killed_runs.append(run)
    run.ready()
    wait_until(lambda: scratch_folders(caches, "child-") and run.descendants(), READY_S, "the one-core child")
    children = run.descendants()
    assert children
    for pid in children:
        os.kill(pid, signal.SIGSTOP)
    try:
        run.kill()
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
    assert_outlived_by_none(children)
    # The sweep tells a gone owner by its pid, which an orphan keeps as a zombie until init reaps it (this VM's
    # init takes up to seconds); the next run comes later than that.
    wait_until(lambda: not any(psutil.pid_exists(pid) for pid in children), GONE_S, "init reaping the children")
    left = scratch_folders(caches)
    assert [f.name.split("-")[1] for f in left] == ["child"]

    real_run = subprocess.run

    def child(command, *args, **kwargs):  # the next study's children, without TensorFlow: they report no points
        if "pipelines.study.children" not in command:
            return real_run(command, *args, **kwargs)
        out = Path(command[command.index("--out") + 1])
        out.write_text('{"points": []}')
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(cores.subprocess, "run", child)
    capsys.readouterr()
    cores.measure_levels(_levels_settings(tmp_path / "data", caches))
    err = capsys.readouterr().err
    assert f"removed 1 {SWEPT}" in err and all(str(f) in err for f in left)
    assert scratch_folders(caches) == []


# --- the A/B command ------------------------------------------------------------------------------------------

_FAKE_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--rounds")
    parser.addoption("--min-round-s")
    parser.addoption("--paired-reference", action="store_true")
"""

_FAKE_BENCHMARK = """
import os, time

def test_throughput_none():
    open(os.environ["LEFTOVERS_STARTED"], "w").close()
    time.sleep(600)
"""


def fake_suite(folder: Path) -> Path:
    """A git repository whose one benchmark (in the gate's selection) says it started, then waits."""
    (folder / "benchmarks").mkdir(parents=True)
    (folder / "benchmarks" / "conftest.py").write_text(_FAKE_CONFTEST)
    (folder / "benchmarks" / "test_throughput.py").write_text(_FAKE_BENCHMARK)
    for command in (["init", "-q"], ["add", "-A"],
                    ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "fake suite"]):
        subprocess.run(["git", *command], cwd=folder, check=True, capture_output=True)
    return folder


def worktrees(repository: Path) -> list[Path]:
    listed = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=repository, check=True,
                            capture_output=True, text=True).stdout
    return [Path(line.split(" ", 1)[1]) for line in listed.splitlines() if line.startswith("worktree ")]


_AB = """
import sys
from pipelines.gate.ab import main
print("ready", flush=True)
sys.exit(main(["--base-rev", "HEAD", "--tree", sys.argv[1], "--pairs", "1"]))
"""


@pytest.mark.slow
def test_a_killed_ab_run_leaves_no_run_and_the_next_one_removes_its_worktree(tmp_path, killed_runs, capsys,
                                                                               monkeypatch):
    """A/B killed during its base side's run: that run (a pytest process) is killed with it; its worktree and
    run folder are left, and the next A/B's worktree sweeps them, unregisters the worktree and says so"""
    from pipelines.gate.ab import worktree

    repository = fake_suite(tmp_path / "repo")
    started = tmp_path / "started"
    monkeypatch.setenv("LEFTOVERS_STARTED", str(started))
    run = Run(_AB, [repository], tmp_path)
    killed_runs.append(run)
    run.ready()
    wait_until(started.exists, READY_S, f"the base side's benchmark\n{run.stderr_text()}")
    children = run.kill()
    assert children
    assert_outlived_by_none(children)
    left = scratch_folders(run.tmp, "ab-")
    assert len(left) == 2  # the worktree's folder and the runs' folder
    checkout, = [path for path in worktrees(repository) if path != repository.resolve()]
    assert checkout.parent in left

    monkeypatch.setattr(tempfile, "tempdir", str(run.tmp))
    capsys.readouterr()
    with worktree("HEAD", repository) as fresh:
        err = capsys.readouterr().err
        assert f"removed 2 {SWEPT}" in err and all(str(f) in err for f in left)
        assert f"unregistered 1 git worktree(s) of killed A/B runs: {checkout}" in err
        assert worktrees(repository) == [repository.resolve(), fresh.resolve()]
    assert worktrees(repository) == [repository.resolve()]
    assert scratch_folders(run.tmp) == []


def test_an_ab_worktree_whose_removal_fails_is_still_unregistered_and_removed(tmp_path, monkeypatch, capsys):
    """``git worktree remove`` failing (a file it cannot delete, an interrupted git) does not leave the
    worktree behind: its folder is removed and git's registration pruned"""
    from pipelines.gate import ab

    repository = fake_suite(tmp_path / "repo")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    real_run = subprocess.run

    def failing_remove(command, *args, **kwargs):
        if command[:3] == ["git", "worktree", "remove"]:
            return subprocess.CompletedProcess(command, 128, "", "fatal: simulated failure")
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(ab.subprocess, "run", failing_remove)
    with ab.worktree("HEAD", repository) as checkout:
        assert (checkout / "benchmarks").is_dir()
        assert len(worktrees(repository)) == 2
    assert not checkout.parent.exists()
    assert worktrees(repository) == [repository.resolve()]
    assert scratch_folders(tmp_path) == []
    assert (f"git worktree remove {checkout} failed (fatal: simulated failure); removed its folder and pruned its "
            "registration instead") in capsys.readouterr().err

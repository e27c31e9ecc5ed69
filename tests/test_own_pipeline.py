"""A team's own loader, declared outside this package (:mod:`pipelines.loaders.declared`): found, checked against
the contract before timing (:mod:`pipelines.loaders.conformance`), refused in one line when broken, and run from
any folder by the installed ``loaderbench`` command with the example package (examples/own-pipeline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from benchmarks.cli import SUITE_ARGS, pytest_args
from pipelines.loaders import conformance
from pipelines.loaders.conformance import check_loader
from pipelines.loaders.declared import ENVIRONMENT, declared_loaders
from pipelines.loaders.registry import LOADER_SPECS
from tests.conftest import SMALL_CONTRACT
from tests.helpers import bench_run
from tests.own_loaders import SPECS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own-pipeline"


def test_the_wheel_holds_every_package_and_the_command_runs_as_pyproject_does():
    """every package under pipelines/ is listed for the wheel (a new one left out would be missing once
    installed), and ``loaderbench`` gives pytest what pyproject's addopts gives a run here"""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "pipelines").rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert set(project["tool"]["setuptools"]["packages"]) == found | {"loaderbench_benchmarks"}
    assert project["tool"]["setuptools"]["package-dir"] == {"loaderbench_benchmarks": "benchmarks"}
    assert tuple(project["tool"]["pytest"]["ini_options"]["addopts"].split()) == SUITE_ARGS
    gate = pytest_args("gate", "example-augmented", [])
    assert gate[gate.index("-k") + 1] == "throughput and none and not processes and example-augmented"
    assert "--gate-baseline=.benchmarks/gate/baseline.json" in gate and gate[-1] == "benchmarks"


def test_declarations_are_found_and_the_unusable_ones_left_out_in_one_line(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setenv(ENVIRONMENT, "own_pipeline.loader:LOADER, nope.mod:X,tests.own_loaders:KEEPS,"
                                    "own_pipeline.loader:LOADER,tests.own_loaders:SPECS,notmodulecolon")
    found, refused = declared_loaders({"own-keeps": SPECS["keeps"]})
    assert list(found) == ["example-augmented"] and found["example-augmented"].augmented
    assert [r.line() for r in refused] == [
        "loader nope.mod:X left out: cannot be imported: ModuleNotFoundError: No module named 'nope'",
        "loader tests.own_loaders:KEEPS left out: the name 'own-keeps' is taken: give the loader another",
        "loader own_pipeline.loader:LOADER left out: the name 'example-augmented' is taken: give the loader another",
        "loader tests.own_loaders:SPECS left out: is a dict, not a pipelines.loaders.spec.LoaderSpec",
        "loader notmodulecolon left out: cannot be imported: ValueError: 'notmodulecolon' is not module:attribute"]


def test_the_command_refuses_an_unknown_loader_or_an_unusable_declaration_before_it_runs(capsys):
    from benchmarks.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["gate", "--loader", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert refused.value.code == 2 and "argument --loader: invalid choice: 'nope'" in err[-1]
    env = {k: v for k, v in os.environ.items() if k != ENVIRONMENT}
    done = subprocess.run([sys.executable, "-m", "benchmarks.cli", "bench", "--loader-spec", "nope.mod:X"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "loaderbench: error: --loader-spec: loader nope.mod:X "
                                                          "left out: cannot be imported: ModuleNotFoundError: No "
                                                          "module named 'nope'\n")


BROKEN = {
    "raises": "own-raises (tests.own_loaders:raises): its builder raised RuntimeError: no GPU here second line",
    "missing": "own-missing (tests.no_such_module:build): cannot be imported: ModuleNotFoundError: No module named "
               "'tests.no_such_module'",
    "wrong_shape": "own-wrong_shape (tests.own_loaders:wrong_shape): images of shape (4, 16, 32, 3), expected "
                   "(batch, 32, 32, 3)",
    "wrong_dtype": "own-wrong_dtype (tests.own_loaders:wrong_dtype): images of dtype uint8, expected float32 in "
                   "[0, 1]",
    "drops": "own-drops (tests.own_loaders:drops): an epoch gave 10 of the dataset's 11 images (it drops some)",
    "repeats": "own-repeats (tests.own_loaders:repeats): an epoch gave more than the dataset's 11 images (it "
               "repeats, or never ends)",
    "never_ends": "own-never_ends (tests.own_loaders:never_ends): an epoch gave more than the dataset's 11 images "
                  "(it repeats, or never ends)",
    "generator": "own-generator (tests.own_loaders:generator): returned a generator, which its first epoch uses "
                 "up: return a tf.data.Dataset, a keras.utils.PyDataset, or an iterable whose every iter() is a "
                 "new epoch",
    "blocks": "own-blocks (tests.own_loaders:blocks): no epoch of 11 images within 3 s (it blocks); left running",
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_builder_is_refused_before_timing_in_one_line_naming_it(monkeypatch, tiny_dataset, name):
    monkeypatch.setitem(LOADER_SPECS, SPECS[name].name, SPECS[name])
    assert check_loader(SPECS[name].name, tiny_dataset, SMALL_CONTRACT, wait_s=3) == BROKEN[name]


def test_pixels_are_compared_unless_the_loader_declares_its_own_augmentation(monkeypatch, tiny_dataset):
    """the exact pipeline keeps the contract (a Dataset, a PyDataset, a builder reading the folder itself);
    inverted pixels do not -- unless declared augmented, when only labels, order, shapes, types and counts are
    checked"""
    for name in ("keeps", "other_pixels", "flips", "pydataset", "reads_folder"):
        monkeypatch.setitem(LOADER_SPECS, SPECS[name].name, SPECS[name])
    contract = SMALL_CONTRACT.with_(shuffle=True)  # checked with shuffle off whatever the run's
    assert check_loader("own-keeps", tiny_dataset, contract) is None
    assert check_loader("own-pydataset", tiny_dataset, contract) is None  # a keras.utils.PyDataset
    assert check_loader("own-reads_folder", tiny_dataset, contract) is None  # it walks index.root itself
    assert check_loader("own-flips", tiny_dataset, contract) is None
    refused = check_loader("own-other_pixels", tiny_dataset, contract)
    assert refused.startswith("own-other_pixels (tests.own_loaders:other_pixels): pixels differ from the exact "
                              "decode by ") and refused.endswith(f"/255 on average (at most "
                                                                 f"{conformance.PIXEL_TOLERANCE:g}): declare "
                                                                 "augmented=True if it changes them on purpose")


@pytest.mark.parametrize("name", ["pydataset", "keeps"])
def test_model_fit_trains_on_every_image_of_a_teams_pydataset_or_dataset(monkeypatch, tiny_dataset, name):
    from pipelines.loaders import open_pipeline
    from pipelines.training import ModelSpec, build_model, fit_epoch

    monkeypatch.setitem(LOADER_SPECS, SPECS[name].name, SPECS[name])
    model = build_model(ModelSpec(len(tiny_dataset.class_names), alpha=0.25), SMALL_CONTRACT)
    with open_pipeline(SPECS[name].name, tiny_dataset, SMALL_CONTRACT) as pipeline:
        runs = [fit_epoch(model, pipeline) for _ in range(2)]
    assert [(run.images, run.batches) for run in runs] == [(tiny_dataset.images, 3)] * 2


def fresh_environment(folder: Path) -> Path:
    """A virtual environment in ``folder`` with loaderbench and the example installed from their folders (pip,
    no index: their dependencies come from this environment's site-packages, read through a .pth file)."""
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = next(p for p in sys.path if p.endswith("site-packages"))
    (Path(site) / "dependencies.pth").write_text(ours + "\n")
    sources = folder.parent / "sources"  # copies: a build leaves build/ and *.egg-info beside what it builds
    ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    for part in ("pipelines", "benchmarks"):
        shutil.copytree(ROOT / part, sources / "loaderbench" / part, ignore=ignore)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, sources / "loaderbench" / part)
    shutil.copytree(EXAMPLE, sources / "own-pipeline", ignore=ignore)
    for package in ("loaderbench", "own-pipeline"):
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", str(sources / package)], check=True, capture_output=True,
                       cwd=folder)
    return folder / "bin" / "loaderbench"


def assert_gate(run: subprocess.CompletedProcess, verdict: int, line: str) -> None:
    """The gate's ``verdict`` (exit and ``line``), or inconclusive (exit 6) with its reason when the machine was
    shared while it measured, as on a busy CI runner; never the other verdict (tests/test_gate.py's proof)."""
    output = run.stdout + run.stderr
    assert run.returncode in (verdict, 6), output[-3000:]
    if run.returncode == 6:
        assert "INCONCLUSIVE example-augmented-none-uint8-" in output and "gate passed" not in output, output[-3000:]
    else:
        assert line in output and "INCONCLUSIVE" not in output, output[-3000:]


@pytest.mark.slow
def test_the_example_runs_from_its_own_folder_beside_tf_data_and_its_gate_catches_its_own_slowdown(tmp_path):
    """installed in a fresh environment outside this repository: ``loaderbench bench`` times example-augmented
    beside tf.data, its JSON holds those cases; the gate saved on it passes it unchanged and fails it slowed down
    (its own builder, resizing through an image 4x larger), naming its case"""
    loaderbench = fresh_environment(tmp_path / "venv")
    work = tmp_path / "team-repo"
    work.mkdir()
    env = {**os.environ, "LOADERBENCH_DATA": str(tmp_path / "data"), "PYTHONPATH": ""}
    env.pop(ENVIRONMENT, None)
    small = ["--images", "96", "--batch-size", "8", "--min-round-s", "0.3", "-p", "no:cacheprovider"]

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([loaderbench, *args, *small], cwd=work, env={**env, **extra}, capture_output=True,
                              text=True, timeout=600)

    bench = run("bench", "-k", "throughput and (example-augmented or tfdata-none)", "--rounds", "2",
                "--benchmark-json", "run.json")
    assert bench.returncode == 0, bench.stdout[-3000:] + bench.stderr[-2000:]
    assert "own loader example-augmented (own_pipeline.pipeline:build, its own augmentation" in bench.stdout
    assert "example-augmented-none-uint8-warm: its own augmentation" in bench.stdout
    names = {b["name"] for b in json.loads((work / "run.json").read_text())["benchmarks"]}
    assert {"test_throughput[example-augmented-none-uint8-warm]", "test_throughput[tfdata-none-uint8-warm]"} <= names
    assert f"rootdir: {work}" in bench.stdout  # the team's folder, not this repository

    assert run("baseline", "--loader", "example-augmented").returncode == 0
    assert (work / ".benchmarks" / "gate" / "baseline.json").is_file()
    assert_gate(run("gate", "--loader", "example-augmented", OWN_PIPELINE_SLOWDOWN="4"), 1,
                "REGRESSED example-augmented-none-uint8-")
    assert_gate(run("gate", "--loader", "example-augmented"), 0, "gate passed: no case regressed")


def test_a_run_with_a_broken_loader_refuses_its_cases_in_one_line_and_runs_the_others(tmp_path):
    done = bench_run(tmp_path, "-k", "throughput and (own-raises or tfdata-none) and warm", "--images", "12",
                     "--benchmark-disable", env={**os.environ, ENVIRONMENT: "tests.own_loaders:RAISES"})
    assert done.returncode == 1, done.stdout[-3000:]
    assert ("ERROR at setup of test_throughput[own-raises-none-uint8-warm] _________\nown-raises "
            "(tests.own_loaders:raises): its builder raised RuntimeError: no GPU here second line\n=") in done.stdout
    assert "ERROR benchmarks/test_throughput.py::test_throughput[own-raises-none-uint8-warm]" in done.stdout
    assert "1 passed" in done.stdout and "1 error" in done.stdout

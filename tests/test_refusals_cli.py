"""Every command checks all its input before any work: a bad value is refused in one line on standard error that
names the option (or the path) and what is accepted, with exit status 2, no traceback, and nothing written -- no
folder left behind. Run in-process through each command's ``main(argv)``; ``--help`` in a fresh interpreter, to
see that it loads neither TensorFlow nor scipy nor matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.datasets import __main__ as datasets_cli
from pipelines.datasets.shards import __main__ as shards_cli
from pipelines.gate import ab, campaign, judge
from pipelines.report import __main__ as report_cli

ROOT = Path(__file__).resolve().parent.parent
RUN = str(Path(__file__).parent / "data" / "tiny-run.json")

#: ``(command, argv, what the line names)``; ``{tmp}`` is the test's folder (the working folder too), ``{file}``
#: a file in it, ``{data}`` the tiny dataset.
PROBES = [
    (datasets_cli, ["generate", "--preset", "smoke", "--images", "20", "--out", "/proc/x"], "argument --out"),
    (datasets_cli, ["generate", "--preset", "photos", "--images", "3", "--out", "{tmp}/photos"],
     "--images 3: preset 'photos': need at least one image per class (3 images for 9 classes)"),
    (datasets_cli, ["generate", "--seed", "-1", "--out", "{tmp}/d"], "argument --seed: a whole number of at least 0"),
    (datasets_cli, ["generate", "--workers", "0", "--out", "{tmp}/d"], "argument --workers: a whole number"),
    (datasets_cli, ["generate", "--workers", "-3", "--out", "{tmp}/d"], "argument --workers: a whole number"),
    (datasets_cli, ["generate", "--images", "-5", "--out", "{tmp}/d"], "argument --images: a whole number"),
    (datasets_cli, ["generate", "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    (datasets_cli, ["generate", "--out", ""], "argument --out: an empty path"),
    (datasets_cli, ["generate", "--preset", "nope"], "argument --preset: invalid choice: 'nope'"),
    (datasets_cli, ["check", ""], "argument PATH: an empty path"),
    (datasets_cli, ["check", "{tmp}/nope"], "argument PATH: no such folder: {tmp}/nope"),
    (datasets_cli, ["check", "{file}"], "argument PATH: {file} is a file, not a folder"),
    (shards_cli, ["{tmp}/nowhere"], "argument SOURCE: no such folder"),
    (shards_cli, ["{data}", "{tmp}/out", "--shards", "0"], "argument --shards: a whole number of at least 1"),
    (shards_cli, ["{data}", "{tmp}/out", "--shards", "12"], "argument --shards: at most 11"),
    (shards_cli, ["{data}", "{file}"], "argument OUT: {file} is a file, not a folder"),
    (shards_cli, ["{data}", "{data}/shards"], "argument OUT: {data}/shards is inside the dataset"),
    (report_cli, [RUN, "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    (report_cli, [RUN, "--out", "/proc/x"], "argument --out"),
    (report_cli, ["{tmp}/nope.json"], "argument RUN.json: no such file: {tmp}/nope.json"),
    (report_cli, [""], "argument RUN.json: an empty path"),
    (report_cli, [RUN, "{tmp}"], "argument OTHER.json: {tmp} is not a file"),
    (report_cli, ["reruns", RUN, "{tmp}/nope.json"], "argument RUN.json: no such file"),
    (report_cli, ["reruns", RUN, RUN, "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    (judge, [RUN, RUN, "--gate-threshold", "1.5"], "argument --gate-threshold: a share from 0 up to"),
    (judge, [RUN, RUN, "--gate-alpha", "0"], "argument --gate-alpha: a share above 0 and below 1"),
    (judge, [RUN, RUN, "--gate-max-shared-cores", "-1"], "argument --gate-max-shared-cores: a number of at least 0"),
    (judge, [RUN, RUN, "--gate-mismatch", "maybe"], "argument --gate-mismatch: invalid choice: 'maybe'"),
    (judge, [RUN, RUN, "--threshold", "0.2"], "unrecognized arguments: --threshold"),
    (judge, [RUN, "{tmp}/nope.json"], "argument RUN.json: no such file"),
    (ab, ["--pairs", "0"], "argument --pairs: a whole number of at least 1, got '0'"),
    (ab, ["--base-env", "oops"], "argument --base-env: NAME=VALUE"),
    (ab, ["--base-python", "{tmp}/no-python"], "argument --base-python: a Python executable"),
    (ab, ["--base-rev", "no-such-revision-xyz", "--tree", str(ROOT)], "argument --base-rev: 'no-such-revision-xyz'"),
    (ab, ["--tree", "{file}"], "argument --tree: {file} is a file, not a folder"),
    (ab, ["--tree", "{tmp}"], "argument --tree: {tmp} has no benchmarks/ folder"),
    (ab, ["--tree", str(ROOT), "--out", "{file}"], "argument --out: {file} is a file, not a folder"),
    (campaign, ["{tmp}/c", "--cycles", "0"], "argument --cycles: a whole number of at least 1"),
    (campaign, ["{tmp}/c", "--judge", "--cycles", "3"], "argument --cycles: --judge measures nothing"),
    (campaign, ["{tmp}/c", "--scenarios", "tfdata=2"], "argument --scenarios: comma-separated scenarios"),
    (campaign, ["{tmp}/c", "--min-margin", "-1"], "argument --min-margin: a number of at least 0"),
    (campaign, ["{tmp}/c", "--gate-alpha", "1"], "argument --gate-alpha"),
    (campaign, ["{file}", "--judge"], "argument OUT: {file} is a file, not a folder"),
]


def _everything(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def _refusal(command, argv: list[str], capsys) -> tuple[int, list[str]]:
    """``command.main(argv)``'s exit status (returned, or raised by argparse) and its standard error's lines."""
    capsys.readouterr()
    try:
        status = command.main(argv)
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.err.splitlines()


def _probe_id(command, argv: list[str]) -> str:
    name = command.__name__.removesuffix(".__main__").removeprefix("pipelines.")
    return f"{name} {' '.join(Path(a).name if a.startswith('/') else a for a in argv)}"


@pytest.mark.parametrize(("command", "argv", "named"), PROBES, ids=[_probe_id(c, a) for c, a, _ in PROBES])
def test_a_bad_argument_is_refused_in_one_line_before_any_work(command, argv, named, tmp_path, tiny_dataset,
                                                                monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    fill = {"{tmp}": str(tmp_path), "{file}": str(tmp_path / "a-file"), "{data}": str(tiny_dataset.root)}

    def filled(text: str) -> str:
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    before, data_before = _everything(tmp_path), _everything(tiny_dataset.root)
    status, err = _refusal(command, [filled(a) for a in argv], capsys)
    assert status == 2, err
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("python -m pipelines.") and ": error: " in err[0], err
    assert filled(named) in err[0]
    assert _everything(tmp_path) == before and _everything(tiny_dataset.root) == data_before  # nothing written


def test_the_photos_preset_without_scikit_image_is_refused_before_its_folder_is_made(tmp_path, monkeypatch, capsys):
    from pipelines.datasets import photos

    monkeypatch.setattr(photos, "unusable", lambda package, load=True: "not installed")
    out = tmp_path / "deep" / "photos"
    status, err = _refusal(datasets_cli, ["generate", "--preset", "photos", "--images", "9", "--out", str(out)],
                           capsys)
    assert status == 2 and len(err) == 1, err
    assert "the photos preset is cut from photographs that skimage ships, and skimage is not installed" in err[0]
    assert _everything(tmp_path) == []


COMMANDS = ("pipelines.datasets", "pipelines.datasets.shards", "pipelines.report", "pipelines.gate.judge",
            "pipelines.gate.ab", "pipelines.gate.campaign")

#: Imported by a command's --help, this would make it slow (seconds) or noisy (TensorFlow's start-up lines).
HEAVY = ("tensorflow", "scipy", "matplotlib", "keras")

_HELP = """
import runpy, sys
sys.argv = [sys.argv[1], *sys.argv[2:]]
status = None
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as exit_:
    status = exit_.code
print("heavy:", ",".join(m for m in {heavy!r} if m in sys.modules), "status:", status, file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [[module, "--help"] for module in COMMANDS]
                         + [["pipelines.report", "reruns", "--help"], ["pipelines.gate.judge", RUN, "x.json"],
                            ["pipelines.datasets", "generate", "--images", "0"]],
                         ids=lambda argv: " ".join(Path(a).name for a in argv))
def test_help_and_refusals_load_nothing_heavy(argv, tmp_path):
    """``--help`` and an argument error read no TensorFlow, scipy or matplotlib: they return at once, with no
    line from TensorFlow, absl or CUDA."""
    done = subprocess.run([sys.executable, "-c", _HELP.format(heavy=HEAVY), *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    last = done.stderr.splitlines()[-1]
    assert last.startswith("heavy:  status:"), done.stderr
    assert last.endswith("status: 0" if "--help" in argv else "status: 2"), done.stderr
    assert len(done.stderr.splitlines()) == (1 if "--help" in argv else 2), done.stderr
    assert list(tmp_path.iterdir()) == []

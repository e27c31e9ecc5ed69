"""Refusals as a property: a bad value for any option of any command -- or of pytest's loaderbench options -- is
refused before any work, in one line that names the option, with argparse's usage status (2; pytest's 4), no
traceback, and nothing written where the command was run or where it keeps datasets."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from pathlib import Path

import pytest
from _pytest.config.argparsing import Parser
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import values
from pipelines.gate.settings import GATE_ALPHA, baseline_file
from pipelines.loaders.contract import IMAGE_SIZE
from tests.strategies import bad_values

#: Every command a user runs, with the arguments it needs besides the one under test (``None``: none).
COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pipelines.study", ()),
    ("pipelines.memory", ("plan",)),
    ("pipelines.memory", ("profile",)),
    ("pipelines.limits", ("--ram-limit", "2GB")),
    ("pipelines.datasets", ("generate",)),
    ("pipelines.datasets.shards", ()),
    ("pipelines.report", ()),
    ("pipelines.gate.judge", ()),
    ("pipelines.gate.ab", ()),
    ("pipelines.gate.campaign", ()),
)


class _Parsed(Exception):
    """Raised in place of parsing, to hand the parser over."""


def _main_of(module: str):
    is_package = importlib.util.find_spec(module).submodule_search_locations is not None
    return importlib.import_module(f"{module}.__main__" if is_package else module).main


def _checked_options(module: str, prefix: tuple[str, ...]) -> list[argparse.Action]:
    """The options of ``module``'s command (its ``prefix`` subcommand) whose values a parser of
    :mod:`pipelines.options` checks, or that take one of a list."""
    seen: dict[str, argparse.ArgumentParser] = {}

    def hand_over(self, args=None, namespace=None):
        seen["parser"] = self
        raise _Parsed

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = hand_over
    try:
        _main_of(module)(list(prefix))
    except _Parsed:
        pass
    finally:
        argparse.ArgumentParser.parse_args = original
    parser = seen["parser"]
    for action in parser._actions:  # a subcommand's own parser
        if isinstance(action, argparse._SubParsersAction) and prefix and prefix[0] in action.choices:
            parser = action.choices[prefix[0]]
    return [action for action in parser._actions
            if action.option_strings and (action.choices or getattr(action.type, "parse", None) in _KNOWN)]


_KNOWN = {values.count, values.natural, values.positive, values.non_negative, values.fraction, values.size,
          values.rate, values.counts, values.names, values.existing_folder, values.existing_file,
          values.writable_folder, baseline_file, IMAGE_SIZE.parse, GATE_ALPHA.parse}


def _tree(*folders: Path) -> list[str]:
    return sorted(str(p) for folder in folders for p in folder.rglob("*"))


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A folder to run in (the current folder), with a file in it, and an empty data root."""
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOADERBENCH_DATA", str(tmp_path / "data"))
    return tmp_path


class _WorkStarted(Exception):
    """A command went past its checks: it asked for TensorFlow, which it does only to start its work."""


def _no_work(*args, **kwargs):
    raise _WorkStarted("the command accepted its arguments and started its work")


def _run(module: str, argv: list[str], capsys) -> tuple[int, str]:
    """The command's exit status and standard error; a command that gets past its checks (it asks for
    TensorFlow to start its work) raises :class:`_WorkStarted` instead of working."""
    from pipelines import quiet_start

    original, quiet_start.import_tensorflow = quiet_start.import_tensorflow, _no_work
    try:
        status = _main_of(module)(argv)
    except SystemExit as exit_:
        status = exit_.code
    finally:
        quiet_start.import_tensorflow = original
    return status, capsys.readouterr().err


@pytest.mark.parametrize(("module", "prefix"), COMMANDS, ids=[" ".join((m, *p[:1])) for m, p in COMMANDS])
@settings(max_examples=25)
@given(data=st.data())
def test_a_bad_value_for_any_option_of_a_command_is_one_line_naming_it(module, prefix, data, here, capsys):
    """every option of every command refuses a bad value in one line naming it, before any work"""
    actions = _checked_options(module, prefix)
    assert actions, f"{module} {' '.join(prefix)} has no checked option"
    action = data.draw(st.sampled_from(actions), label="option")
    flag = action.option_strings[-1]
    value = data.draw(bad_values(getattr(action.type, "parse", None), action.choices, here), label="value")
    before = _tree(here)
    status, err = _run(module, [*prefix, f"{flag}={value}"], capsys)
    lines = err.strip().splitlines()
    assert status == 2, (flag, value, err)
    assert len(lines) == 1 and flag in lines[0], (flag, value, err)
    assert "Traceback" not in err
    assert _tree(here) == before


@pytest.mark.parametrize(("module", "prefix"), COMMANDS, ids=[" ".join((m, *p[:1])) for m, p in COMMANDS])
def test_help_lists_a_default_for_every_option_that_has_one(module, prefix, capsys):
    """every option of every command has a help line"""
    status, _ = _run(module, [*prefix, "--help"], capsys)
    assert status == 0
    for action in _checked_options(module, prefix):
        assert action.help, f"{module}: {action.option_strings[-1]} has no help"


def _pytest_parser() -> Parser:
    from benchmarks import plugin

    parser = Parser(processopt=lambda option: None, _ispytest=True)  # a parser of our options alone
    plugin.pytest_addoption(parser)
    return parser


@settings(max_examples=40)
@given(data=st.data())
def test_a_bad_value_for_any_loaderbench_pytest_option_is_a_usage_error_naming_it(data, here):
    """pytest's loaderbench options refuse a bad value as a usage error naming the option"""
    group = _pytest_parser().getgroup("loaderbench")
    checked = [option for option in group.options
               if option.attrs().get("choices") or getattr(option.attrs().get("type"), "parse", None) in _KNOWN]
    option = data.draw(st.sampled_from(checked), label="option")
    flag = option.names()[-1]
    value = data.draw(bad_values(getattr(option.attrs().get("type"), "parse", None), option.attrs().get("choices"),
                                 here), label="value")
    with pytest.raises(pytest.UsageError, match=flag):
        _pytest_parser().parse([f"{flag}={value}"])


@pytest.mark.parametrize(("argv", "line"), [
    (["--ram-limit", "2GB", "--loader", "idg"], "--loader idg has no memory cache"),
    (["--ram-limit", "2GB", "--sizes", "20"], "--sizes: each at least --preset coco2017's 80 classes"),
    (["--ram-limit", "2GB"], "no cgroup here"),
])
def test_limits_refuses_before_it_makes_any_dataset(argv, line, here, capsys, monkeypatch):
    """``python -m pipelines.limits`` checks its loader, its sizes and that a cgroup can be made before it makes
    a dataset (it generated every dataset first, then found it could not limit them)"""
    from pipelines.limits import make
    from pipelines.limits.cgroup import CgroupUnavailable

    def no_cgroup(limits):
        raise CgroupUnavailable("no cgroup here")

    monkeypatch.setattr(make, "check_cgroup", no_cgroup)
    status, err = _run("pipelines.limits", argv, capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and line in err, err
    assert _tree(here) == [str(here / "a-file")]

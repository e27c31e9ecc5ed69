"""Each setting declared once (:mod:`pipelines.options`): one flag, one declaration, one parser, one wording."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

from pipelines import options, values
from pipelines.harness.settings import BenchSettings

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*sorted((ROOT / "pipelines").rglob("*.py")), ROOT / "conftest.py", *sorted((ROOT / "benchmarks").glob("*.py"))]


def _calls(name: str):
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if called == name:
                    yield path.relative_to(ROOT), node


def test_each_long_option_is_declared_in_one_place():
    """every --flag is one Option(...) in the source, and no parser declares one by hand"""
    flags = collections.defaultdict(list)
    for path, node in _calls("Option"):
        if node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("--"):
            flags[node.args[0].value].append(f"{path}:{node.lineno}")
    assert len(flags) > 40
    assert {flag: where for flag, where in flags.items() if len(where) > 1} == {}
    by_hand = [f"{path}:{node.lineno}" for name in ("add_argument", "addoption") for path, node in _calls(name)
               if node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("-")]
    assert by_hand == []


def test_a_size_without_a_unit_below_a_megabyte_is_refused_as_a_unit_left_out():
    with pytest.raises(ValueError, match=r"a size with its unit, e.g. 16GB: '16' would be 16 bytes"):
        values.size("16")
    assert values.size("16GB") == 16 * 10**9 and values.size("2000000") == 2_000_000
    with pytest.raises(ValueError, match=r"not a size: '16QB' \(examples: 16GB, 512MiB, 2000000\)"):
        values.size("16QB")


def test_a_refusal_is_one_line_with_exit_2_and_a_dash_value_is_read_as_a_value(capsys):
    parser = options.command_parser("prog", "A command.")
    options.add_options(parser.add_argument, BenchSettings)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--ram-budget", "-5GB"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == ("prog: error: argument --ram-budget: not a size: '-5GB' (examples: 16GB, "
                                       "512MiB, 2000000) (see --help)\n")


def test_settings_read_back_what_the_options_declare():
    parser = options.command_parser("prog", None)
    options.add_options(parser.add_argument, BenchSettings)
    settings = options.settings_from(BenchSettings, parser.parse_args(
        ["--images", "60", "--ram-budget", "2GB", "--ram-limit", "4GB", "--batch-size", "8", "--extended"]))
    assert (settings.images, settings.ram_budget, settings.limits.ram_limit, settings.contract.batch_size,
            settings.extended) == (60, 2 * 10**9, 4 * 10**9, 8, True)
    assert options.settings_from(BenchSettings, parser.parse_args([])) == BenchSettings()


def test_every_option_says_its_default_in_its_help():
    for option, default in options.options_of(BenchSettings):
        line = option.help_line(default)
        assert option.switch or option.default_text == "" or "(default: " in line, option.flag

"""Optional packages (:mod:`pipelines.optional`): a package not installed (its parent package missing included),
or installed but failing on import, is a reason, never an exception; and on an installation without Grain, DALI
or scikit-image the tests collect and the optional loaders' cases are skipped naming the extra to install.

The conditions are made for real: a dotted name whose parent does not exist, packages written into a temporary
folder whose ``__init__`` raises, and a child interpreter in which the three packages are blocked as Python
blocks a package (``None`` in ``sys.modules``), since the tests' own environment has them installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from pipelines.optional import install_hint, unusable
from tests.helpers import ROOT, bench_run, broken_package

#: Blocks the optional packages in a child interpreter, as on an installation without them: ``find_spec("grain")``
#: answers None, ``find_spec("nvidia.dali")`` raises ModuleNotFoundError for ``nvidia``, an import fails.
HIDE_OPTIONAL = """import sys
for name in ("grain", "nvidia", "skimage"):
    sys.modules[name] = None
"""

#: A hang guard for each child run (the whole tests folder collected, or the optional cases skipped), not a speed
#: check: each takes seconds.
CHILD_HANG_S = 300


def test_an_installed_package_is_usable():
    assert unusable("json") is None and unusable("json", load=False) is None
    assert unusable("email.mime") is None


@pytest.mark.parametrize("package", ["nosuchpackage_loaderbench", "nosuchparent_loaderbench.child"])
def test_a_package_not_installed_or_whose_parent_is_absent_is_not_installed(package):
    """``find_spec`` answers None for the first and raises for the second; both are the same reason"""
    if "." in package:
        with pytest.raises(ModuleNotFoundError):  # the premise: the case that used to escape as an exception
            importlib.util.find_spec(package)
    assert unusable(package) == "not installed" and unusable(package, load=False) == "not installed"


@pytest.mark.parametrize(("raises", "cause"), [
    ('ImportError("libfoo.so: cannot open shared object file")',
     "ImportError: libfoo.so: cannot open shared object file"),
    ('OSError("libfoo.so: cannot open shared object file")', "OSError: libfoo.so: cannot open shared object file"),
    ('RuntimeError("built against another version\\nmore detail")', "RuntimeError: built against another version"),
    ("__import__('nosuchdependency_loaderbench')",
     "ModuleNotFoundError: No module named 'nosuchdependency_loaderbench'"),
], ids=["ImportError", "OSError", "RuntimeError", "a-dependency-missing"])
def test_a_package_that_raises_on_import_is_installed_but_fails_to_import(monkeypatch, tmp_path, raises, cause):
    """the reason says so with the error's first line; a dependency it lacks is not the package missing"""
    monkeypatch.syspath_prepend(str(tmp_path))
    package = broken_package(tmp_path, f"loaderbench_broken_{cause.partition(':')[0].lower()}", raises)
    assert unusable(package) == f"installed but fails to import ({cause})"
    assert unusable(f"{package}.child") == f"installed but fails to import ({cause})"  # the parent is imported
    assert unusable(package, load=False) is None and package not in sys.modules  # found, not imported


def test_the_answer_is_cached_per_package(monkeypatch, tmp_path):
    """a package is imported to check it once a process, however often its cases ask"""
    monkeypatch.syspath_prepend(str(tmp_path))
    log = tmp_path / "imports.log"
    (tmp_path / "loaderbench_counted").mkdir()
    (tmp_path / "loaderbench_counted" / "__init__.py").write_text(
        f"with open({str(log)!r}, 'a') as log:\n    log.write('imported\\n')\nraise ImportError('libfoo.so')\n")
    package = "loaderbench_counted"
    assert unusable(package) == unusable(package) == "installed but fails to import (ImportError: libfoo.so)"
    assert log.read_text() == "imported\n"


def test_the_install_hint_names_the_extra_and_its_tox_environment():
    assert install_hint("dali") == "pip install '.[dali]' (or tox -e bench-dali)"


def _without_optional_packages(tmp_path) -> dict[str, str]:
    """This process's environment, with a ``sitecustomize`` on ``PYTHONPATH`` that blocks Grain, DALI and
    scikit-image in the child interpreter."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_OPTIONAL)
    path = os.pathsep.join(p for p in (str(hide), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=CHILD_HANG_S)


@pytest.mark.slow
def test_without_grain_dali_or_scikit_image_the_tests_collect_and_their_cases_are_skipped_naming_the_extra(tmp_path):
    """a child interpreter without the three packages: ``pytest tests`` collects every file; their tests and the
    benchmark cases of the optional loaders, on a tiny dataset, are skipped with the install hint (exit 0)"""
    env = _without_optional_packages(tmp_path)
    hidden = subprocess.run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('grain'))"],
                            env=env, capture_output=True, text=True, timeout=CHILD_HANG_S)
    assert hidden.stdout.strip() == "None", hidden.stdout + hidden.stderr  # the premise: Grain is not found

    collected = _pytest(env, "tests", "--collect-only", "-q")
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "tests/test_dali.py::test_a_missing_dali_is_a_skip_naming_the_extra" in collected.stdout

    dali = "NVIDIA DALI (CPU) needs the optional package 'nvidia.dali', not installed: " + install_hint("dali")
    grain = "Grain needs the optional package 'grain', not installed: " + install_hint("grain")
    tests = _pytest(env, "tests/test_dali.py", "tests/test_grain.py", "-q", "-rs")
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert dali in tests.stdout and grain in tests.stdout, tests.stdout[-3000:]  # the needs_loader marks

    run = bench_run(tmp_path, "--extended", "-k", "dali or grain", "--images", "6", "--rounds", "1",
                    "--min-round-s", "0", "--batch-size", "4", env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "passed" not in run.stdout and "failed" not in run.stdout and "error" not in run.stdout
    assert "SKIPPED [2] benchmarks/test_throughput.py" in run.stdout and dali in run.stdout, run.stdout[-3000:]
    assert grain in run.stdout and "pip install '.[grain]'" in run.stdout, run.stdout[-3000:]

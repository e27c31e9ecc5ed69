"""The README and docs/ say what the code does: the README stays a front door, every relative link leads to a
file of the repository, the README's sample summary is what the summary code prints, and every
``python -m pipelines.X`` command the pages name can be run.

When the summary's format changes on purpose, regenerate the README's sample with ``python -m tests.test_docs``
(it rewrites the block between the summary markers from ``tests/data/readme-run.json``).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from pipelines.report.summary import format_summary

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_RUN = Path(__file__).parent / "data" / "readme-run.json"
MAX_README_LINES = 200

SUMMARY_START = "<!-- summary:start -->"
SUMMARY_END = "<!-- summary:end -->"

#: Commands the pages cite that must exist whether or not a page names them at the moment.
EXPECTED_MODULES = ("pipelines.gate.campaign", "pipelines.study")

FENCED = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
MODULE_COMMAND = re.compile(r"python3? -m (pipelines(?:\.\w+)*)")


def prose(text: str) -> str:
    """The page without its code: links inside code blocks or spans are examples, not links."""
    return INLINE_CODE.sub("", FENCED.sub("", text))


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(h) for h in HEADING.findall(FENCED.sub("", page.read_text()))}


def relative_links() -> list[tuple[Path, str]]:
    links = []
    for page in PAGES:
        for target in LINK.findall(prose(page.read_text())):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: leave the repository
                links.append((page, target))
    return links


def readme_summary_block(text: str) -> str:
    start, end = text.index(SUMMARY_START) + len(SUMMARY_START), text.index(SUMMARY_END)
    return text[start:end].strip("\n")


def rendered_summary(run: Path = README_RUN) -> str:
    """The summary as ``benchmarks/conftest.py`` prints it: ``format_summary`` over the ``extra_info`` records of
    the run's cases, in the order they ran, with the run's wall time as it saved it -- fenced as the README
    shows it."""
    saved = json.loads(run.read_text())
    records = [dict(bench["extra_info"]) for bench in saved["benchmarks"] if bench.get("extra_info")]
    return f"```\n{format_summary(records, saved.get('loaderbench', {}).get('wall_s'))}\n```"


def test_the_readme_is_a_front_door_of_at_most_200_lines():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines: move detail to a page in docs/"


def test_the_pages_have_relative_links_to_check():
    assert len(relative_links()) >= len(PAGES), "the link pattern found (almost) no link: is it still right?"


@pytest.mark.parametrize("page, target", relative_links(),
                         ids=lambda value: value.name if isinstance(value, Path) else value)
def test_every_relative_link_resolves_to_a_file_of_the_repository(page: Path, target: str):
    path, _, fragment = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
    assert linked.is_file(), f"{page.name} links to {target}, which is not a file of the repository"
    if fragment and linked.suffix == ".md":
        assert fragment in anchors(linked), f"{page.name} links to {target}: {linked.name} has no such heading"


def test_the_readme_sample_summary_is_what_the_code_prints():
    text = README.read_text()
    assert SUMMARY_START in text and SUMMARY_END in text, "README.md lost its summary markers"
    assert readme_summary_block(text) == rendered_summary(), (
        "README.md's sample summary is not what pipelines.report.summary.format_summary prints from "
        f"{README_RUN.relative_to(ROOT)}: regenerate it with `python -m tests.test_docs`")


def named_modules() -> list[str]:
    named = {m for page in PAGES for m in MODULE_COMMAND.findall(page.read_text())}
    return sorted(named | set(EXPECTED_MODULES))


@pytest.mark.parametrize("module", named_modules())
def test_every_python_m_module_the_pages_name_can_be_run(module: str):
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"`python -m {module}` is named in README.md or docs/, but there is no such module"
    if spec.submodule_search_locations is not None:  # a package runs through its __main__
        assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} is a package without __main__"


def regenerate_readme_sample() -> None:
    """Rewrite README.md's sample summary from ``tests/data/readme-run.json`` with the current code."""
    text = README.read_text()
    start, end = text.index(SUMMARY_START) + len(SUMMARY_START), text.index(SUMMARY_END)
    README.write_text(f"{text[:start]}\n{rendered_summary()}\n{text[end:]}")
    print(f"rewrote the sample summary in {README}")


if __name__ == "__main__":
    regenerate_readme_sample()

"""``python -m pipelines.report RUN.json [OTHER.json] --out DIR``: a Markdown table and PNG charts from
pytest-benchmark's JSON; with two files, the ratios between them (two runs, or two machines).

``python -m pipelines.report reruns RUN1.json RUN2.json [...] [--out FILE.md]``: the spread of unchanged reruns
(:mod:`pipelines.report.reruns`), each case's median moving between runs against its within-run spread."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.report import reruns
from pipelines.report.charts import write_charts
from pipelines.report.markdown import comparison_table, markdown_table
from pipelines.report.results import ReportError, load_results
from pipelines.report.summary import format_summary


#: The first argument that selects :mod:`pipelines.report.reruns` (a results file named so is given as ``./reruns``).
RERUNS_COMMAND = "reruns"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [RERUNS_COMMAND]:
        return reruns.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__)
    parser.add_argument("run", type=Path, help="pytest-benchmark JSON (--benchmark-json, or a file in .benchmarks/)")
    parser.add_argument("other", type=Path, nargs="?", help="a second run: report new/old ratios against RUN")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="folder for report.md and the charts")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.run)
        newer = load_results(args.other) if args.other else None
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    shown = newer or results
    parts = [f"# loaderbench report: {args.other or args.run}", "", "```", format_summary(shown), "```", "",
             markdown_table(shown)]
    if newer:
        parts += ["", f"## {args.other} against {args.run}", "", comparison_table(results, newer)]
    charts = write_charts(shown, args.out)
    parts += [""] + [f"![{p.stem}]({p.name})" for p in charts]
    (args.out / "report.md").write_text("\n".join(parts) + "\n")
    print(f"wrote {args.out / 'report.md'}" + "".join(f", {p}" for p in charts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m pipelines.report RUN.json [OTHER.json] --out FOLDER``: a Markdown table and PNG charts from
pytest-benchmark's JSON; with two files, the ratios between them (two runs, or two machines).

``python -m pipelines.report reruns RUN1.json RUN2.json [...] [--out FOLDER]``: the spread of unchanged reruns
(:mod:`pipelines.report.reruns`), each case's median moving between runs against its within-run spread."""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.options import OUT, Option, add_options, command_parser, refuse
from pipelines.values import existing_file

PROG = "python -m pipelines.report"

#: The first argument that selects :mod:`pipelines.report.reruns` (a results file named so is given as ``./reruns``).
RERUNS_COMMAND = "reruns"

RUN = Option("run", "pytest-benchmark JSON (--benchmark-json, or a file in .benchmarks/)", parse=existing_file,
             metavar="RUN.json", default_text="")
OTHER = Option("other", "a second run: report new/old ratios against RUN.json", parse=existing_file,
               metavar="OTHER.json", nargs="?", default_text="none: one run")


def _parser():
    parser = command_parser(PROG, __doc__)
    parser.epilog = __doc__.split("\n\n")[1]
    add_options(parser.add_argument, RUN, OTHER, OUT, defaults={"out": Path("reports")})
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [RERUNS_COMMAND]:
        from pipelines.report import reruns

        return reruns.main(argv[1:])
    args = _parser().parse_args(argv)
    from pipelines.report.results import ReportError, load_results

    try:
        results = load_results(args.run)
        newer = load_results(args.other) if args.other else None
    except ReportError as error:
        return refuse(PROG, error)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # as root, /proc/x looks writable until made
        return refuse(PROG, f"argument --out: cannot make {args.out}: {error.strerror or error}")
    from pipelines.report.charts import write_charts
    from pipelines.report.markdown import comparison_table, markdown_table
    from pipelines.report.summary import format_summary

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

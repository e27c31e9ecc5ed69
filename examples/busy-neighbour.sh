#!/usr/bin/env bash
# The regression gate beside a busy neighbour (docs/gate.md, docs/results.md): a thin wrapper
# over the gate's campaign command, python -m pipelines.gate.campaign (its --help says the rest).
#
#   bash examples/busy-neighbour.sh OUT [CYCLES]          # measure: a quiet baseline, then CYCLES (default 5) cycles
#   bash examples/busy-neighbour.sh OUT --judge           # only judge the runs already in OUT again
#
# Each cycle runs the gate's selection five times: unchanged, LOADERBENCH_REGRESSION=tfdata=1.0 and tfdata=0.4,
# each beside a busy loop on one core, then unchanged and tfdata=0.4 on the quiet machine; every run is judged
# against the baseline and the table counts how often each scenario passed, regressed or was inconclusive.
# PYTHON (default: python) must have the package's dependencies, e.g. PYTHON=.tox/tests/bin/python. About 95 s
# a run on 2 cores: 5 cycles take 40 minutes.
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: busy-neighbour.sh OUT [CYCLES|--judge]}
scenarios=busy:unchanged,busy:tfdata=1.0,busy:tfdata=0.4,unchanged,tfdata=0.4
case ${2:-5} in
  --judge) exec "${PYTHON:-python}" -m pipelines.gate.campaign "$out" --scenarios "$scenarios" --judge ;;
  *) exec "${PYTHON:-python}" -m pipelines.gate.campaign "$out" --scenarios "$scenarios" --cycles "${2:-5}" ;;
esac

#!/usr/bin/env bash
# The regression gate beside a busy neighbour (README, "Regression gate", "What it caught here").
#
#   bash examples/busy-neighbour.sh OUT [CYCLES]          # measure: a quiet baseline, then CYCLES cycles
#   bash examples/busy-neighbour.sh OUT --judge           # only judge the runs already in OUT again
#
# One baseline on a quiet machine (the gate's selection: tox.ini [gate] args), then CYCLES (default 5) cycles of
# five runs of that selection: unchanged, LOADERBENCH_REGRESSION=tfdata=1.0 and tfdata=0.4, each with a busy loop
# on one core (`python3 -c 'while True: pass'`, started before the run and killed after it), then unchanged and
# tfdata=0.4 on the quiet machine. Every run is judged with `python -m pipelines.gate` against the baseline; the
# table counts how often each scenario passed (exit 0), regressed (1) or was inconclusive (6).
# Run it in an environment with the package installed (PYTHON, default: python; e.g. PYTHON=.tox/tests/bin/python)
# and nothing else busy on the machine: a quiet run that reads "inconclusive" says the machine was not quiet.
# About 95 s a run on 2 cores: 5 cycles take 40 minutes.
set -u
cd "$(dirname "$0")/.."
out=${1:?usage: busy-neighbour.sh OUT [CYCLES|--judge]}
cycles=${2:-5}
python=${PYTHON:-python}
scenarios=(busy-unchanged busy-seed1.0 busy-seed0.4 quiet-unchanged quiet-seed0.4)
mkdir -p "$out"
export LOADERBENCH_DATA=${LOADERBENCH_DATA:-$out/data} TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
unset LOADERBENCH_REGRESSION
eval "gate=($(sed -n 's/^args = //p' tox.ini))"

if [ "$cycles" != "--judge" ]; then
  [ -f "$out/baseline.json" ] || "$python" -m pytest benchmarks "${gate[@]}" -p no:cacheprovider \
    --benchmark-json="$out/baseline.json" > "$out/baseline.log" 2>&1 || { echo "baseline failed: $out/baseline.log"; exit 2; }
  for cycle in $(seq 1 "$cycles"); do
    for scenario in "${scenarios[@]}"; do
      seed=""; case $scenario in *seed1.0) seed=tfdata=1.0 ;; *seed0.4) seed=tfdata=0.4 ;; esac
      busy=""; case $scenario in busy-*) python3 -c 'while True: pass' >/dev/null 2>&1 & busy=$! ;; esac
      env ${seed:+LOADERBENCH_REGRESSION=$seed} "$python" -m pytest benchmarks "${gate[@]}" -p no:cacheprovider \
        --benchmark-json="$out/$scenario-$cycle.json" > "$out/$scenario-$cycle.log" 2>&1
      [ -n "$busy" ] && kill "$busy"
      echo "$(date +%T) $scenario cycle $cycle done"
    done
  done
fi

printf '| scenario | runs | passed | regressed | inconclusive | cases judged regressed |\n|---|---:|---:|---:|---:|---|\n'
for scenario in "${scenarios[@]}"; do
  runs=0 passed=0 regressed=0 inconclusive=0 named=""
  for run in "$out/$scenario"-*.json; do
    [ -f "$run" ] || continue
    verdict=$("$python" -m pipelines.gate "$out/baseline.json" "$run" 2>/dev/null); status=$?
    runs=$((runs + 1))
    case $status in 0) passed=$((passed + 1)) ;; 1) regressed=$((regressed + 1)) ;; 6) inconclusive=$((inconclusive + 1)) ;; esac
    named="$named $(echo "$verdict" | sed -n 's/^REGRESSED \([a-z0-9-]*\):.*/\1/p' | tr '\n' ' ')"
  done
  printf '| %s | %d | %d | %d | %d | %s |\n' "$scenario" "$runs" "$passed" "$regressed" "$inconclusive" \
    "$(echo "$named" | tr ' ' '\n' | sed '/^$/d' | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')"
done

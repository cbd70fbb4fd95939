#!/usr/bin/env bash
# The whole suite (.ci/test) several times in a row while stress-ng keeps
# every core busy: a test that passes only on an idle machine fails here.
# Stops at the first failed run; prints each run's "N passed, N failed" and
# duration, then a summary; stress-ng is stopped on any exit.
#   bash test/stress-suite.sh [runs] [bun test filters…]   runs: default 5; as root
#   STRESS_CPU=4 bash test/stress-suite.sh                  stress-ng workers (default 2)
# Filters (paths) narrow each run to some files, e.g. to chase one flake.
# Each run's full output is kept in the log directory it names.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift $(($# > 0 ? 1 : 0))
cpu=${STRESS_CPU:-2}
if ! command -v stress-ng >/dev/null; then
  echo "stress-suite: stress-ng not found: apt-get install stress-ng (or bash .ci/setup)" >&2
  exit 2
fi
logs=$(mktemp -d /tmp/netflow-stress.XXXXXX)

# A backstop should this script be killed outright: stress-ng ends by itself (30 min a run).
start_stress() {
  stress-ng --cpu "$cpu" --timeout "$((runs * 1800))s" --quiet &
  stress=$!
}
start_stress
stop_stress() {
  if kill -0 "$stress" 2>/dev/null; then
    kill -TERM "$stress" 2>/dev/null
    wait "$stress" 2>/dev/null
  fi
}
trap stop_stress EXIT
run=0
child=""
# The suite runs in its own session, so that a signal here stops it too (by its process group).
trap 'echo "stress-suite: stopped by a signal during run ${run}"; [ -n "$child" ] && kill -TERM -- "-$child" 2>/dev/null; exit 130' INT TERM
echo "stress-suite: ${runs} run(s) of .ci/test under stress-ng --cpu ${cpu} (pid ${stress}); logs in ${logs}"

started=$SECONDS
passed_runs=0
for run in $(seq 1 "$runs"); do
  log="${logs}/run-${run}.log"
  t0=$SECONDS
  setsid bash .ci/test "$@" >"$log" 2>&1 &
  child=$!
  wait "$child"
  status=$?
  child=""
  result=$(tail -1 "$log")
  echo "run ${run}/${runs}: ${result} ($((SECONDS - t0)) s)"
  # A run is a stress run only if the load lasted: say so if stress-ng went away (killed?), and restart it.
  if ! kill -0 "$stress" 2>/dev/null; then
    echo "stress-suite: WARNING: stress-ng (pid ${stress}) ended during run ${run}: that run was only partly loaded"
    wait "$stress" 2>/dev/null
    start_stress
  fi
  if [ "$status" -ne 0 ]; then
    echo "stress-suite: run ${run} failed; its failing tests (full output: ${log}):"
    grep -E '^(\(fail\)|FAILED:)' "$log" | sort -u | sed 's/^/  /'
    echo "stress-suite: ${passed_runs} of ${runs} run(s) passed before the first failure ($((SECONDS - started)) s)"
    exit 1
  fi
  passed_runs=$((passed_runs + 1))
done
echo "stress-suite: all ${runs} run(s) passed under stress-ng --cpu ${cpu} ($((SECONDS - started)) s)"

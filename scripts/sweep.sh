#!/usr/bin/env bash
# Several `kedro run`s side by side, one per seed (separate processes), all logged to the same MLflow
# experiment; compare them in the MLflow UI (runs are named "<pipeline> <env> <arch> seed <N>").
#
#   scripts/sweep.sh ENV "PARAMS" SEED...     e.g. scripts/sweep.sh sota "training.epochs=140" 1 2 3
#
# Point MLFLOW_TRACKING_URI at a tracking server first (scripts/tracking-server.sh start): runs that
# write side by side to the default SQLite file can wait on each other's locks. Each run's output
# goes to data/sweeps/<env>-seed<N>.log; the exit status is the number of runs that failed.
set -uo pipefail

# the project in the current folder (a clone of DeepFER), else the one this script belongs to
if [ -f pyproject.toml ] && [ -d conf ]; then ROOT=$PWD; else ROOT=$(cd "$(dirname "$0")/.." && pwd); fi
if [ $# -lt 3 ]; then
  echo "usage: $0 ENV \"PARAMS\" SEED..." >&2
  exit 2
fi
ENV_NAME=$1
PARAMS=$2
shift 2
mkdir -p "$ROOT/data/sweeps"
cd "$ROOT"
KEDRO=${KEDRO:-$ROOT/.venv/bin/kedro}  # or the kedro of another environment
[ -x "$KEDRO" ] || KEDRO=$(command -v kedro || true)
[ -n "$KEDRO" ] || { echo "kedro is not installed: run scripts/setup.sh" >&2; exit 2; }
[ -n "${MLFLOW_TRACKING_URI:-}" ] || echo "MLFLOW_TRACKING_URI is not set: the runs share the SQLite file mlflow.db" >&2

declare -A pids
for seed in "$@"; do
  params="seed=$seed${PARAMS:+,$PARAMS}"
  log="data/sweeps/$ENV_NAME-seed$seed.log"
  "$KEDRO" run --env "$ENV_NAME" --params "$params" >"$log" 2>&1 &
  pids[$seed]=$!
  echo "started seed $seed (pid ${pids[$seed]}): kedro run --env $ENV_NAME --params $params > $log"
done

failed=0
for seed in "$@"; do
  wait "${pids[$seed]}"
  status=$?
  if [ "$status" -eq 0 ]; then
    echo "seed $seed finished"
  else
    why="exit status $status"
    [ "$status" -gt 128 ] && why="$why: killed by signal $((status - 128)), $(kill -l $((status - 128)))"
    [ "$status" -eq 137 ] && why="$why (often the kernel's out-of-memory killer: run fewer seeds at once)"
    echo "seed $seed FAILED ($why): see data/sweeps/$ENV_NAME-seed$seed.log, which ends:" >&2
    tail -n 25 "data/sweeps/$ENV_NAME-seed$seed.log" | sed 's/^/    /' >&2
    failed=$((failed + 1))
  fi
done
echo "$(($# - failed)) of $# runs finished; compare them with \`mlflow ui\` (or the tracking server's page)"
exit "$failed"

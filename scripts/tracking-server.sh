#!/usr/bin/env bash
# A shared MLflow tracking server for a team: PostgreSQL as the backend store, a local artifact
# store served through the server, both bound to 127.0.0.1 (put a proxy in front to share it).
#
#   scripts/tracking-server.sh start    # initdb on first use, then PostgreSQL and `mlflow server`
#   MLFLOW_TRACKING_URI=http://127.0.0.1:5000 .venv/bin/kedro run --env quick
#   scripts/tracking-server.sh stop     # both stopped cleanly; the data stays for the next start
#   scripts/tracking-server.sh status
#
# Settings (environment): DEEPFER_TRACKING_DIR (default data/tracking), PG_PORT (5433),
# MLFLOW_PORT (5000). PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mkdir -p "${DEEPFER_TRACKING_DIR:-$ROOT/data/tracking}" && cd "${DEEPFER_TRACKING_DIR:-$ROOT/data/tracking}" && pwd)
PG_PORT=${PG_PORT:-5433}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
PGDATA="$DIR/postgres"
MLFLOW=${MLFLOW:-$ROOT/.venv/bin/mlflow}
PGBIN=$(dirname "$(command -v pg_ctl || ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1 || true)")
if [ ! -x "$PGBIN/pg_ctl" ]; then
  echo "PostgreSQL is not installed (no pg_ctl): apt-get install postgresql" >&2
  exit 2
fi
[ -x "$MLFLOW" ] || MLFLOW=$(command -v mlflow || true)
[ -n "$MLFLOW" ] || { echo "mlflow is not installed: run scripts/setup.sh" >&2; exit 2; }
BACKEND="postgresql+psycopg2://mlflow@127.0.0.1:$PG_PORT/mlflow"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "$what did not answer within ${seconds} s; see $DIR/*.log" >&2
  return 1
}

start() {
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$DIR"
    if ! runuser -u postgres -- test -w "$DIR"; then
      echo "The postgres user cannot reach $DIR (a parent folder is private); set DEEPFER_TRACKING_DIR" \
        "to a folder under a world-readable one" >&2
      exit 2
    fi
  fi
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    echo "Creating the database cluster in $PGDATA"
    as_postgres "$PGBIN/initdb" -D "$PGDATA" -U mlflow --auth=trust -E UTF8 >"$DIR/initdb.log"
  fi
  if ! as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$DIR/postgres.log" -w -t 60 \
      -o "-h 127.0.0.1 -p $PG_PORT -k $DIR" start >/dev/null
  fi
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U mlflow -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'mlflow'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PG_PORT" -U mlflow -d postgres -qc "CREATE DATABASE mlflow"
  fi
  echo "PostgreSQL on 127.0.0.1:$PG_PORT ($PGDATA)"
  if [ -f "$DIR/mlflow.pid" ] && kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null; then
    echo "mlflow server already running (pid $(cat "$DIR/mlflow.pid"))"
  else
    # its own process group, so that stop ends its workers too
    setsid "$MLFLOW" server --backend-store-uri "$BACKEND" --artifacts-destination "$DIR/artifacts" \
      --host 127.0.0.1 --port "$MLFLOW_PORT" >"$DIR/mlflow.log" 2>&1 < /dev/null &
    echo $! >"$DIR/mlflow.pid"
  fi
  wait_for 180 "mlflow server" curl -sf "http://127.0.0.1:$MLFLOW_PORT/health"
  echo "MLflow tracking server on http://127.0.0.1:$MLFLOW_PORT (backend $BACKEND, artifacts $DIR/artifacts)"
  echo "Use it with: export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT"
}

stop() {
  if [ -f "$DIR/mlflow.pid" ]; then
    local pid
    pid=$(cat "$DIR/mlflow.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/mlflow.pid"
    echo "mlflow server stopped"
  fi
  if [ -f "$PGDATA/PG_VERSION" ] && as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL stopped"
  fi
}

status() {
  as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status || true
  curl -sf "http://127.0.0.1:$MLFLOW_PORT/health" && echo " mlflow server on :$MLFLOW_PORT" || echo "mlflow server not answering"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

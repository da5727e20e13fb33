#!/usr/bin/env bash
# `make run`: migrate the database and serve the app; without real Stripe or Google keys
# in .env, start the local stand-ins (python -m emulators) and point the app at them.
#
# Settings come from the environment first, then .env (an empty value means the default).
# It fails with a clear message and a non-zero exit, before claiming anything runs, when
# another `make run` holds this folder, when PORT or EMULATOR_PORT is taken, or when the
# app or a stand-in does not come up.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

fail() { echo "make run: $*" >&2; exit 1; }

# .env through python-dotenv (the parser the app uses): the environment wins, and an empty
# value is left unset, so every program sees its own default.
eval "$("$BIN/python" - <<'PY'
import os, shlex
from dotenv import dotenv_values

for name, value in dotenv_values(".env").items():
    if value and not os.environ.get(name):
        print(f"export {name}={shlex.quote(value)}")
PY
)"
# gunicorn itself reads WEB_CONCURRENCY with int() before any config: empty would crash it.
for name in WEB_CONCURRENCY PORT EMULATOR_PORT EMULATOR_SMTP_PORT SMTP_URL APP_BASE_URL LOG_FORMAT ACCESS_LOG; do
  [ -n "${!name:-}" ] || unset "$name"
done

PORT="${PORT:-5000}"
export EMULATOR_PORT="${EMULATOR_PORT:-12111}"
export APP_BASE_URL="${APP_BASE_URL:-http://127.0.0.1:${PORT}}"
# Readable one-line logs without the noise of polls and static files (production: JSON, all).
export LOG_FORMAT="${LOG_FORMAT:-text}"
export ACCESS_LOG="${ACCESS_LOG:-quiet}"
EMULATOR="http://127.0.0.1:${EMULATOR_PORT}"
stand_ins=()

mkdir -p instance
# The lock belongs to the open file, which this script (and what it starts) keeps open.
exec 9>instance/make-run.lock
"$BIN/python" -c 'import fcntl; fcntl.flock(9, fcntl.LOCK_EX | fcntl.LOCK_NB)' 2>/dev/null \
  || fail "another \`make run\` is already running from $(pwd) (stop it with Ctrl-C first)."

port_free() {
  "$BIN/python" -c '
import socket, sys
with socket.socket() as sock:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
' "$1"
}
require_port() {  # name, port
  port_free "$2" || fail "port $2 ($1) is already in use, perhaps by another \`make run\`.
  Stop that program, or pick another port: $1=$(($2 + 1)) make run"
}

if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
  export STRIPE_SECRET_KEY=sk_test_local_stand_in
  export STRIPE_WEBHOOK_SECRET=whsec_local_development_secret
  export STRIPE_API_BASE="$EMULATOR"
  export EMULATOR_WEBHOOK_URL="${APP_BASE_URL}/webhooks/stripe"
  stand_ins+=("Stripe")
fi
if [ -z "${GOOGLE_CLIENT_ID:-}" ]; then
  export GOOGLE_CLIENT_ID=local-client-id
  export GOOGLE_CLIENT_SECRET=local-client-secret
  export GOOGLE_DISCOVERY_URL="${EMULATOR}/google/.well-known/openid-configuration"
  export EMULATOR_GOOGLE_REDIRECT_URIS="${APP_BASE_URL}/auth/callback"
  stand_ins+=("Google")
fi

# No OpenAI key: the assistant (and IMAGE_PROVIDER=openai) talk to the OpenAI stand-in.
if [ -z "${OPENAI_API_KEY:-}" ]; then
  export OPENAI_API_KEY=sk-local-stand-in
  export OPENAI_API_BASE="${EMULATOR}/openai/v1"
  stand_ins+=("OpenAI")
fi
# No SMTP server configured: e-mails go to the stand-ins' SMTP sink, readable at /_emulator/mail.
if [ -z "${SMTP_URL:-}" ]; then
  export EMULATOR_SMTP_PORT="${EMULATOR_SMTP_PORT:-12125}"
  export SMTP_URL="smtp://127.0.0.1:${EMULATOR_SMTP_PORT}"
  stand_ins+=("mail")
fi
# The local drawing takes a moment, like a real image API, so a job's progress shows.
export IMAGE_LOCAL_DELAY_SECONDS="${IMAGE_LOCAL_DELAY_SECONDS:-3}"

require_port PORT "$PORT"
[ ${#stand_ins[@]} -eq 0 ] || require_port EMULATOR_PORT "$EMULATOR_PORT"
[ -z "${EMULATOR_SMTP_PORT:-}" ] || [ ${#stand_ins[@]} -eq 0 ] || require_port EMULATOR_SMTP_PORT "$EMULATOR_SMTP_PORT"

export FLASK_APP=wsgi.py
migration_log="$(mktemp)"
if ! "$BIN/flask" db upgrade >"$migration_log" 2>&1; then
  cat "$migration_log" >&2
  rm -f "$migration_log"
  fail "the database migration failed (output above)."
fi
rm -f "$migration_log"

pids=()
stopping=""
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'stopping=1' INT TERM

wait_until_up() {  # name, pid, url
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || fail "$1 stopped while starting (its output is above)."
    curl -fsS "$3" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "$1 did not answer at $3 within 60 seconds."
}

# The job worker (embedded queue in instance/ unless JOBS_BROKER_URL/REDIS_URL say otherwise);
# it also runs the sweep every minute, so no cron is needed locally. Started first: its
# start-up lines come before the line that says the app runs.
"$BIN/flask" jobs worker --concurrency "${JOB_WORKER_CONCURRENCY:-4}" --sweep-every 60 &
pids+=($!)

if [ ${#stand_ins[@]} -gt 0 ]; then
  if [ "$ACCESS_LOG" = "quiet" ]; then
    # One line per stand-in request would drown the app's own lines.
    "$BIN/python" -c 'import logging, runpy; logging.getLogger("werkzeug").setLevel(logging.WARNING)
runpy.run_module("emulators", run_name="__main__")' &
  else
    "$BIN/python" -m emulators &
  fi
  pids+=($!)
  wait_until_up "the local stand-ins" "${pids[-1]}" "${EMULATOR}/_emulator/health"
fi

# SQLite allows one writer at a time: one worker with threads is plenty locally.
"$BIN/gunicorn" -c gunicorn.conf.py --bind "127.0.0.1:${PORT}" --workers 1 --threads 4 wsgi:app &
pids+=($!)
wait_until_up "the app (gunicorn)" "${pids[-1]}" "${APP_BASE_URL}/healthz"

echo
if [ ${#stand_ins[@]} -gt 0 ]; then
  names="${stand_ins[*]}"
  echo "Local stand-ins for ${names// / and } at ${EMULATOR} (no keys needed; controls: docs/stand-ins.md)."
  [ -z "${EMULATOR_SMTP_PORT:-}" ] || echo "E-mails the app sends: ${EMULATOR}/_emulator/mail"
fi
echo "Logs: LOG_FORMAT=${LOG_FORMAT}, ACCESS_LOG=${ACCESS_LOG} (see docs/operations.md, Logs)."
echo
echo "creditapp is running at ${APP_BASE_URL}  (Ctrl-C stops everything)"
echo
status=0
wait -n "${pids[@]}" || status=$?
if [ -n "$stopping" ]; then
  echo "Stopping creditapp."
  exit 0
fi
echo "make run: a process stopped unexpectedly (exit ${status}); stopping the rest." >&2
exit $((status == 0 ? 1 : status))

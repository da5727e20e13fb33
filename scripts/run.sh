#!/usr/bin/env bash
# `make run`: migrate the database and serve the app; without real Stripe or Google keys
# in .env, start the local stand-ins (python -m emulators) and point the app at them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

set -a
# shellcheck disable=SC1091
[ -f .env ] && . ./.env
set +a

PORT="${PORT:-5000}"
export APP_BASE_URL="${APP_BASE_URL:-http://127.0.0.1:${PORT}}"
export EMULATOR_PORT="${EMULATOR_PORT:-12111}"
EMULATOR="http://127.0.0.1:${EMULATOR_PORT}"
stand_ins=()

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

if [ "${IMAGE_PROVIDER:-local}" = "openai" ] && [ -z "${OPENAI_API_KEY:-}" ]; then
  export OPENAI_API_KEY=sk-local-stand-in
  export OPENAI_API_BASE="${EMULATOR}/openai/v1"
  stand_ins+=("OpenAI Images")
fi
# The local drawing takes a moment, like a real image API, so a job's progress shows.
export IMAGE_LOCAL_DELAY_SECONDS="${IMAGE_LOCAL_DELAY_SECONDS:-3}"

export FLASK_APP=wsgi.py
"$BIN/flask" db upgrade

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ ${#stand_ins[@]} -gt 0 ]; then
  "$BIN/python" -m emulators &
  pids+=($!)
  for _ in $(seq 50); do
    curl -fsS "${EMULATOR}/_emulator/health" >/dev/null 2>&1 && break
    sleep 0.2
  done
  names="${stand_ins[*]}"
  echo "Local stand-ins for ${names// / and } at ${EMULATOR} (no keys needed)."
fi

# The job worker (embedded queue in instance/ unless JOBS_BROKER_URL/REDIS_URL say otherwise);
# it also runs the sweep every minute, so no cron is needed locally.
"$BIN/flask" jobs worker --concurrency "${JOB_WORKER_CONCURRENCY:-4}" --sweep-every 60 &
pids+=($!)

# SQLite allows one writer at a time: one worker with threads is plenty locally.
"$BIN/gunicorn" -c gunicorn.conf.py --bind "127.0.0.1:${PORT}" --workers 1 --threads 4 wsgi:app &
pids+=($!)
for _ in $(seq 50); do
  curl -fsS "${APP_BASE_URL}/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
echo
echo "creditapp is running at ${APP_BASE_URL}  (Ctrl-C stops everything)"
echo
wait -n "${pids[@]}"

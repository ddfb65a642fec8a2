#!/usr/bin/env bash
# Local demo with NO Clerk account: an echo origin on 127.0.0.1:8788, stand-ins for Clerk's
# Frontend API (:8789) and Backend API (:8790) for the handshake, and the Worker
# (`wrangler dev --env demo`, demo keys from wrangler.toml) on 127.0.0.1:8787.
#
#   bash scripts/dev.sh
#   curl -i http://127.0.0.1:8787/__clerk/health
#   curl -i http://127.0.0.1:8787/hello                                   # 401 signed-out
#   curl -i -H "Authorization: Bearer $(node scripts/mint-demo-token.mjs)" http://127.0.0.1:8787/hello
#
# PORT / ORIGIN_PORT override the ports. Local KV and D1 state lives in .wrangler/state.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"
cd "$CEG_ROOT"

PORT="${PORT:-8787}"
ORIGIN_PORT="${ORIGIN_PORT:-8788}"
# Local stand-ins for Clerk's Frontend and Backend APIs, for the handshake (demo/fake-clerk.mjs).
FAPI_PORT="${FAPI_PORT:-8789}"
BAPI_PORT="${BAPI_PORT:-8790}"
# ... and of Clerk's status page, for the diagnosis.
STATUS_PORT="${STATUS_PORT:-8791}"

# Set-up is part of the run command (idempotent: about 1 s when everything is there).
bash scripts/install-toolchain.sh
# Again: on a fresh machine the tools it points at exist only now.
. scripts/env.sh

echo "[dev] applying D1 migrations to the local demo database"
wrangler d1 migrations apply CLERK_DB --local --env demo

node demo/echo-origin.mjs "$ORIGIN_PORT" &
origin_pid=$!
node demo/fake-clerk.mjs "$FAPI_PORT" "$BAPI_PORT" "$STATUS_PORT" &
clerk_pid=$!
trap 'kill "$origin_pid" "$clerk_pid" 2>/dev/null || true' EXIT INT TERM

cat <<HINT
[dev] try:
  curl -i http://127.0.0.1:$PORT/__clerk/health
  curl -i -H "Authorization: Bearer \$(node scripts/mint-demo-token.mjs)" http://127.0.0.1:$PORT/hello
  node demo/handshake.mjs --worker http://127.0.0.1:$PORT     # a returning visitor's handshake
  curl -s -H "Authorization: Bearer demo-admin-token-9ff0bcba373113f203aba8cb4b11b66e" \
    "http://127.0.0.1:$PORT/__clerk/admin/diagnose?format=text"   # runbook 5
HINT

# Not exec: the trap above must stop the echo origin when wrangler exits.
wrangler dev --env demo --local --ip 127.0.0.1 --port "$PORT" \
  --var "ORIGIN_URL:http://127.0.0.1:$ORIGIN_PORT" \
  --var "CLERK_PROXY_URL:http://127.0.0.1:$FAPI_PORT" \
  --var "CLERK_API_URL:http://127.0.0.1:$BAPI_PORT" \
  --var "CLERK_STATUS_URL:http://127.0.0.1:$STATUS_PORT/api/v2/status.json" "$@"

#!/bin/sh
# The example app (busybox sh, PID 1 under ECS's init process). It refuses to start unless its
# JWT secret (JWT_SECRET, injected by ECS from SSM) is exactly 64 bytes: the seed's backend
# started with a 65-byte secret (a trailing newline) and rejected every signature.
# Then it serves /www (the page, showing its version, and /health) on $PORT.
# SANDBOX_SCENARIO (the sandbox's task definitions set it) makes it misbehave for real:
#   crashloop  exits 1 at start (after APP_CRASH_AFTER seconds, if set)
#   unhealthy  serves the page but never /health
#   slow       takes SLOW_START seconds (default 6) before it listens
log() { echo "app $APP_VERSION: $*"; }
if [ -n "${APP_BROKEN:-}" ]; then
  log "refusing to start: this build is broken (built with BROKEN=$APP_BROKEN)"
  exit 1
fi
scenario="${SANDBOX_SCENARIO:-healthy}"
if [ "$scenario" = crashloop ]; then
  sleep "${APP_CRASH_AFTER:-0}"
  log "crashing on purpose (SANDBOX_SCENARIO=crashloop)"
  exit 1
fi
if [ -z "${JWT_SECRET+set}" ]; then
  log "refusing to start: JWT_SECRET is not set"
  exit 1
fi
bytes=$(printf '%s' "$JWT_SECRET" | wc -c)
if [ "$bytes" -ne 64 ]; then
  log "refusing to start: JWT_SECRET is $bytes bytes, not 64 (a trailing newline?): every signature would be rejected"
  exit 1
fi
port="${PORT:-8080}"
if [ "$scenario" = slow ]; then
  log "starting slowly (${SLOW_START:-6} s)"
  sleep "${SLOW_START:-6}"
fi
if [ "$scenario" != unhealthy ]; then
  echo ok > /www/health
fi
log "listening on 127.0.0.1:$port"
exec httpd -f -p "127.0.0.1:$port" -h /www

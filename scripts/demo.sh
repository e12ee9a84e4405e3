#!/usr/bin/env bash
# make demo: the sandbox (fake HrFlow, JobAdder and Bullhorn), one worker with an embedded NATS
# server, and a bulk run of every sandbox profile to each ATS, followed to its end. Everything
# runs on loopback and stops at the end. Needs only the binaries built by `make build`.
set -euo pipefail

BIN=${BIN:-bin}
PROFILES=${PROFILES:-300}
NATS_PORT=${DEMO_NATS_PORT:-14222}
work=$(mktemp -d)
pids=()

stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() { stop_all; rm -rf "$work"; }
trap cleanup EXIT

wait_for() { # wait_for WHAT CMD...: retry CMD for up to 15 s
  local what=$1; shift
  for _ in $(seq 150); do "$@" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: $what did not come up; logs in $work" >&2
  cat "$work"/*.log >&2 || true
  exit 2
}

start=$(date +%s.%N)
echo "== sandbox: $PROFILES generated profiles (+2 samples), fake HrFlow, JobAdder and Bullhorn on loopback"
# Bullhorn allows 1,500 calls a minute; at about 6 calls a profile a faithful run of 300 profiles
# takes over a minute, so the demo raises the fake's cap (and the worker's budget, from the
# sandbox's environment) unless SANDBOX_FLAGS sets it.
"$BIN/sandbox" --profiles "$PROFILES" --bullhorn-calls-per-minute 60000 ${SANDBOX_FLAGS:-} --addr 127.0.0.1:0 --hrflow-addr 127.0.0.1:0 --jobadder-addr 127.0.0.1:0 --bullhorn-addr 127.0.0.1:0 \
  --env-file "$work/env" --keys-file "$work/keys" >"$work/sandbox.out" 2>"$work/sandbox.log" &
pids+=($!)
wait_for "the sandbox" test -s "$work/keys"
set -a; . "$work/env"; set +a

echo "== worker: embedded NATS JetStream on 127.0.0.1:$NATS_PORT"
NATS_URL= NATS_LISTEN="127.0.0.1:$NATS_PORT" NATS_STORE_DIR="$work/nats" WORKER_HTTP_ADDR=127.0.0.1:0 \
  WORKER_CONCURRENCY=16 LOG_FORMAT=text LOG_LEVEL=warn "$BIN/worker" 2>"$work/worker.log" &
pids+=($!)
wait_for "the worker's NATS server" bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT"

status=0
for target in jobadder bullhorn; do
  echo "== enqueue bulk --target $target --wait"
  set +e
  "$BIN/enqueue" bulk --nats-url "nats://127.0.0.1:$NATS_PORT" --workflow-id "demo-$target" --target "$target" \
    --source-key "$SANDBOX_SOURCE_KEY" --file "$work/keys" --wait
  rc=$?
  set -e
  [ "$rc" -gt "$status" ] && status=$rc
done

echo "== stopping the worker and the sandbox"
stop_all
grep -v '^export \|^#' "$work/sandbox.out" || true
if grep -q 'level=ERROR' "$work/worker.log"; then
  echo "worker errors:"; grep 'level=ERROR' "$work/worker.log" | head -5
fi
end=$(date +%s.%N)
printf 'demo took %.1f s (enqueue exit code %d)\n' "$(echo "$end - $start" | bc 2>/dev/null || awk "BEGIN{print $end-$start}")" "$status"
exit "$status"

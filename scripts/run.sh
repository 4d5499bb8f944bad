#!/usr/bin/env bash
# Starts the demo: the Azure OpenAI simulator, spillway, and Envoy, all on
# loopback, and stops all three on Ctrl-C. Used by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=bin/spillway
LOGS=$(mktemp -d -t spillway-run-XXXX)
pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping (logs kept in $LOGS)"
	for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

wait_for() { # name url
	for _ in $(seq 1 150); do
		if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
		sleep 0.2
	done
	echo "$1 did not become ready; its log:" >&2
	cat "$LOGS/$1.log" >&2
	exit 1
}

"$BIN" sim --config examples/sim.yaml --listen 127.0.0.1:8081 >"$LOGS/sim.log" 2>&1 &
pids+=($!)
wait_for sim http://127.0.0.1:8081/_sim/ledger

"$BIN" serve -c examples/gateway.yaml >"$LOGS/spillway.log" 2>&1 &
pids+=($!)
wait_for spillway http://127.0.0.1:9464/healthz

envoy -c envoy/bootstrap.yaml --disable-hot-restart --log-level warn >"$LOGS/envoy.log" 2>&1 &
pids+=($!)
wait_for envoy http://127.0.0.1:9901/ready
for _ in $(seq 1 100); do
	curl -fsS http://127.0.0.1:9901/listeners 2>/dev/null | grep -q spillway_gateway && break
	sleep 0.1
done

cat <<MSG

spillway is up:
  gateway (Envoy)     http://127.0.0.1:10000     client key: demo-key
  spillway admin      http://127.0.0.1:9464      (/healthz, /metrics)
  Envoy admin         http://127.0.0.1:9901
  simulator           http://127.0.0.1:8081      (/_sim/ledger shows what reached each deployment)
  logs                $LOGS

Try it (repeat it quickly to saturate the PTU and watch x-spillway-backend change):

  curl -si http://127.0.0.1:10000/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 \\
    -H 'api-key: demo-key' -H 'content-type: application/json' \\
    -d '{"messages":[{"role":"user","content":"Hello!"}],"max_tokens":200}'

Force a PTU 429 to see a spillover at once: add -H 'x-sim-fault: 429@gpt-4o-ptu'

Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
echo "a process exited; see $LOGS" >&2

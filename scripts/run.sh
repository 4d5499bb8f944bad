#!/usr/bin/env bash
# Starts the demo: the Azure OpenAI simulator, spillway, and Envoy, all on
# loopback, and stops all three on Ctrl-C. Used by `make run`.
#
#   PLAN=WORKLOAD   demo of a plan: `spillway plan -f WORKLOAD --sim` writes the
#                   gateway and simulator configs of the plan, which then run
#   CONFIG=FILE     the gateway config (default examples/gateway.yaml; its key
#                   files are relative to its directory)
#   SIM=FILE        the simulator config (default examples/sim.yaml)
#   BIN=FILE        the spillway binary (default bin/spillway, `make build`)
#   GATEWAY_PORT, GRPC_PORT, ADMIN_PORT, ENVOY_ADMIN_PORT, SIM_PORT: the
#                   loopback ports (default 10000, 18000, 9464, 9901, 8081).
#                   A plan is written with them; a CONFIG (and the backends of
#                   its SIM) must already use them, as the examples use the
#                   defaults. Envoy's node id is spillway's default, spillway.
set -euo pipefail
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
[ -z "${BIN:-}" ] || BIN=$(abs "$BIN")
[ -z "${PLAN:-}" ] || PLAN=$(abs "$PLAN")
[ -z "${CONFIG:-}" ] || CONFIG=$(abs "$CONFIG")
[ -z "${SIM:-}" ] || SIM=$(abs "$SIM")
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/spillway}

GATEWAY_PORT=${GATEWAY_PORT:-10000} GRPC_PORT=${GRPC_PORT:-18000} ADMIN_PORT=${ADMIN_PORT:-9464}
ENVOY_ADMIN_PORT=${ENVOY_ADMIN_PORT:-9901} SIM_PORT=${SIM_PORT:-8081}
LOGS=$(mktemp -d -t spillway-run-XXXX)
CONFIG=${CONFIG:-examples/gateway.yaml}
SIM=${SIM:-examples/sim.yaml}
if [ -n "${PLAN:-}" ]; then
	# The plan's configs and the demo keys they name go beside the logs.
	CONFIG=$LOGS/gateway.yaml SIM=$LOGS/sim.yaml
	cp -r examples/secrets "$LOGS/secrets"
	"$BIN" plan -f "$PLAN" -o "$CONFIG" --sim "http://127.0.0.1:$SIM_PORT" --sim-config "$SIM" \
		--listen "127.0.0.1:$GATEWAY_PORT" --grpc-listen "127.0.0.1:$GRPC_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT"
	echo
fi
# Envoy's bootstrap: envoy/bootstrap.yaml is the one of the default ports.
"$BIN" envoy bootstrap -control "127.0.0.1:$GRPC_PORT" -admin "127.0.0.1:$ENVOY_ADMIN_PORT" -o "$LOGS/bootstrap.yaml"
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

# A config spillway refuses is reported here, with every problem, rather than
# as a process that did not become ready.
"$BIN" validate -c "$CONFIG"

"$BIN" sim --config "$SIM" --listen "127.0.0.1:$SIM_PORT" >"$LOGS/sim.log" 2>&1 &
pids+=($!)
wait_for sim "http://127.0.0.1:$SIM_PORT/_sim/ledger"

"$BIN" serve -c "$CONFIG" >"$LOGS/spillway.log" 2>&1 &
pids+=($!)
wait_for spillway "http://127.0.0.1:$ADMIN_PORT/healthz"

envoy -c "$LOGS/bootstrap.yaml" --disable-hot-restart --log-level warn >"$LOGS/envoy.log" 2>&1 &
pids+=($!)
wait_for envoy "http://127.0.0.1:$ENVOY_ADMIN_PORT/ready"
for _ in $(seq 1 100); do
	curl -fsS "http://127.0.0.1:$ENVOY_ADMIN_PORT/listeners" 2>/dev/null | grep -q spillway_gateway && break
	sleep 0.1
done

cat <<MSG

spillway is up ($CONFIG, simulator $SIM):
  gateway (Envoy)     http://127.0.0.1:$GATEWAY_PORT     client key: demo-key (the demo configs')
  spillway admin      http://127.0.0.1:$ADMIN_PORT      (/healthz, /metrics, /capacity)
  Envoy admin         http://127.0.0.1:$ENVOY_ADMIN_PORT
  simulator           http://127.0.0.1:$SIM_PORT      (/_sim/ledger shows what reached each deployment)
  logs                $LOGS

MSG
if [ "$CONFIG" = examples/gateway.yaml ]; then
	cat <<'MSG'
Try it (repeat it quickly to saturate the PTU and watch x-spillway-backend change):

  curl -si http://127.0.0.1:10000/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 \
    -H 'api-key: demo-key' -H 'content-type: application/json' \
    -d '{"messages":[{"role":"user","content":"Hello!"}],"max_tokens":200}'

Force a PTU 429 to see a spillover at once: add -H 'x-sim-fault: 429@gpt-4o-ptu'

MSG
else
	models=$(curl -fsS "http://127.0.0.1:$GATEWAY_PORT/openai/v1/models" -H 'api-key: demo-key' 2>/dev/null |
		python3 -c 'import json,sys; print(" ".join(m["id"] for m in json.load(sys.stdin)["data"]))' 2>/dev/null || true)
	cat <<MSG
Models: ${models:-(GET /openai/v1/models did not answer with the demo key)}
Load it and read where the answers came from (docs/load.md):

  $BIN load --url http://127.0.0.1:$GATEWAY_PORT --model ${models%% *} --requests 200 --concurrency 8

MSG
fi
echo "Ctrl-C stops everything."
wait -n "${pids[@]}" || true
echo "a process exited; see $LOGS" >&2

#!/usr/bin/env bash
# Runs the Gateway API conformance suite (core HTTP profile) against a fresh
# svcnet server with the process runtime; writes the suite's report to
# $REPORT (default: bench/results/gateway-conformance.yaml) and the test
# log to $LOG. Usage: bash test/gatewayconformance/run.sh [extra go test flags]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
REPORT=${REPORT:-$root/bench/results/gateway-conformance.yaml}
LOG=${LOG:-$root/bench/results/gateway-conformance.log}
go build -o bin/svcnet ./cmd/svcnet
mkdir -p "$(dirname "$REPORT")" "$(dirname "$LOG")"
dir=$(mktemp -d /tmp/svcnet-gwconf-XXXXXX)
bin/svcnet server --runtime process --data-dir "$dir/data" --api-addr 127.0.0.1:0 --dns-addr 127.0.0.1:0 \
  --metrics-addr 127.0.0.1:0 --ingress-addr 127.0.0.1:0 --ingress-tls-addr 127.0.0.1:0 --lb-range 127.98.200.0/24 \
  --service-cidr 127.95.0.0/16 --cluster-cidr 127.245.0.0/16 \
  >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
export KUBECONFIG=$dir/data/kubeconfig   # written with the port the server picked
for _ in $(seq 60); do [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 1; done
kubectl apply -f "$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard/" >/dev/null
for _ in $(seq 30); do kubectl wait --for=condition=Established crd --all >/dev/null 2>&1 && break; sleep 1; done
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: svcnet}
spec: {controllerName: svcnet.io/gateway-controller}
YAML
cd test/gatewayconformance
status=0
REPORT=$REPORT go test -count=1 -timeout 40m -v -run TestGatewayAPIConformance . "$@" >"$LOG" 2>&1 || status=$?
grep -E '^\s*--- (PASS|FAIL|SKIP)' "$LOG" | sed 's/ (.*//' | awk '{print $2}' | sort | uniq -c || true
exit $status

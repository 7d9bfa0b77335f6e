# svcnet: the two commands the README opens with are `make run` and `make test`.
GO ?= go

.PHONY: run build test test-race test-short test-chaos test-k8s test-gateway-conformance fuzz bench-api

# The built binary, not `go run`: go run exits 1 whenever it is interrupted,
# so Ctrl-C ended every clean shutdown in "Error 1".
run: build
	bin/svcnet server

build:
	$(GO) build -o bin/svcnet ./cmd/svcnet

# Unit, integration (embedded etcd + client-go) and e2e (built binary + real
# kubectl, dig, curl, an external etcd, and the README's session) tests.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

# The unit and integration tiers under the race detector (CI runs it too).
test-race:
	$(GO) test -race -count=1 -timeout 20m ./internal/... ./test/integration/...

# Faults injected on purpose (kill -9 of the server, etcd members killed,
# quorum lost) against the built binary and real etcd processes.
test-chaos:
	$(GO) vet -tags chaos ./test/chaos/
	$(GO) test -tags chaos -count=1 -timeout 15m ./test/chaos/

# svcnet's DNS and agent against the real control plane (kube-apiserver,
# kube-controller-manager, kube-scheduler v1.37.2), built from Go modules by
# test/k8s/build.sh into .cache/k8s once (about 15 minutes cold).
test-k8s:
	bash test/k8s/build.sh
	$(GO) vet -tags realcluster ./test/realcluster/
	$(GO) test -tags realcluster -count=1 -timeout 20m ./test/realcluster/

# The Gateway API's conformance suite (core and the extended HTTPRoute
# features svcnet reports) against a fresh server; the report goes to
# bench/results/gateway-conformance.yaml.
test-gateway-conformance:
	bash test/gatewayconformance/run.sh

test-short:
	$(GO) test -count=1 ./internal/...

# Runs each fuzz target for FUZZTIME.
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./internal/apiserver -run XXX -fuzz FuzzParseRequestInfo -fuzztime $(FUZZTIME)
	$(GO) test ./internal/apiserver -run XXX -fuzz FuzzNegotiate -fuzztime $(FUZZTIME)
	$(GO) test ./internal/apiserver -run XXX -fuzz FuzzDecodeObject -fuzztime $(FUZZTIME)
	$(GO) test ./internal/registry -run XXX -fuzz FuzzDecodeContinue -fuzztime $(FUZZTIME)
	$(GO) test ./internal/dns -run XXX -fuzz FuzzReply -fuzztime $(FUZZTIME)
	$(GO) test ./internal/dns -run XXX -fuzz FuzzResolveName -fuzztime $(FUZZTIME)
	$(GO) test ./internal/dns -run XXX -fuzz FuzzParseQuery -fuzztime $(FUZZTIME)
	$(GO) test ./internal/dns -run XXX -fuzz FuzzDecodeRecord -fuzztime $(FUZZTIME)

bench-api:
	$(GO) run ./bench/api

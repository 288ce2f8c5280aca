GO ?= go
PROTOC_GEN_GO_VERSION := v1.36.12

.PHONY: build test fuzz deps proto bench lint demo

FASHION_DIR := /usr/share/datasets/fashion-mnist

build:
	$(GO) build ./...

test: deps
	$(GO) test -race -timeout 15m ./...
	$(MAKE) fuzz

# fuzz runs every fuzz target of the module for FUZZTIME each (2000
# inputs; a count rather than a duration, which can end while a worker
# still starts and fail the run). Seed corpora run with the tests already.
FUZZTIME ?= 2000x
fuzz:
	@for file in $$(grep -rlE '^func Fuzz' --include='*_test.go' .); do \
		dir=$$(dirname $$file); \
		for target in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' $$file); do \
			echo "fuzz $$dir $$target"; \
			out=$$($(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$dir 2>&1) || { echo "$$out"; exit 1; }; \
		done; \
	done

# deps installs what the tests and examples need beyond Go modules: the
# Fashion-MNIST data set (Debian's dataset-fashion-mnist) for the
# parameter-server example.
deps:
	@test -d $(FASHION_DIR) || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist; fi; }

demo:
	$(GO) run ./examples/hello

# proto regenerates the committed Go code from proto/*.proto, installing
# protoc (Debian's protobuf-compiler) and protoc-gen-go when missing.
proto:
	@command -v protoc >/dev/null || (apt-get update && apt-get install -y protobuf-compiler)
	@command -v protoc-gen-go >/dev/null || $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" protoc --proto_path=proto --go_out=proto --go_opt=paths=source_relative proto/*.proto

bench:
	$(GO) run ./cmd/goray microbenchmark

lint:
	gofmt -l . | grep -v '\.pb\.go$$' | (! grep .)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# cluster-demo builds examples/cluster and runs it on a cluster of three
# nodes on 127.0.0.1 (a head and two workers, one CPU each) kept in a
# temporary directory: the example as a driver, then status. The cluster is
# stopped on the way out, also when a step fails or is interrupted.
.PHONY: cluster-demo
cluster-demo:
	@set -eu; \
	dir=$$(mktemp -d); bin="$$dir/cluster"; sessions="$$dir/sessions"; \
	cleanup() { \
		rc=$$?; trap - EXIT INT TERM; \
		if [ -x "$$bin" ]; then echo "--- stop"; "$$bin" stop --temp-dir "$$sessions" || rc=1; fi; \
		if [ "$$rc" -ne 0 ] && [ -d "$$sessions/session_latest/logs" ]; then \
			for f in "$$sessions"/session_latest/logs/*.log; do echo "--- $$f"; tail -n 20 "$$f"; done; \
		fi; \
		rm -rf "$$dir"; exit "$$rc"; \
	}; \
	trap cleanup EXIT; trap 'exit 130' INT TERM; \
	echo "--- build"; $(GO) build -o "$$bin" ./examples/cluster; \
	echo "--- start the head"; "$$bin" start --head --port 0 --num-cpus 1 --temp-dir "$$sessions"; \
	addr=$$(cat "$$sessions/session_latest/head_address"); \
	echo "--- start two workers"; \
	"$$bin" start --address "$$addr" --num-cpus 1 --temp-dir "$$sessions"; \
	"$$bin" start --address "$$addr" --num-cpus 1 --temp-dir "$$sessions"; \
	echo "--- run the example as a driver"; \
	GORAY_ADDRESS="$$addr" GORAY_TOKEN="$$(cat "$$sessions/session_latest/token")" "$$bin" run; \
	echo "--- status"; "$$bin" status --temp-dir "$$sessions"

GO ?= go
PROTOC_GEN_GO_VERSION := v1.36.12

.PHONY: build test fuzz deps proto bench lint demo

FASHION_DIR := /usr/share/datasets/fashion-mnist

build:
	$(GO) build ./...

test: deps
	$(GO) test -race -timeout 15m ./...
	$(MAKE) fuzz

# fuzz runs every fuzz target of the module for FUZZTIME each (its seed
# corpus runs with the tests already).
FUZZTIME ?= 3s
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

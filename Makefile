GO ?= go
PROTOC_GEN_GO_VERSION := v1.36.12

.PHONY: build test deps proto bench lint demo

FASHION_DIR := /usr/share/datasets/fashion-mnist

build:
	$(GO) build ./...

test: deps
	$(GO) test -race -timeout 15m ./...

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

# holdfast — build, run, test, lint, bench.
#
# `make run` and `make test` are all a fresh machine needs: the Makefile
# builds the pinned MinIO into .bin/ (once, ~4 min) and starts it for tests.

GO            ?= go
BIN           := $(CURDIR)/.bin
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO         := $(BIN)/minio
MINIO_STAMP   := $(BIN)/.minio-$(MINIO_VERSION)
STATICCHECK   := $(BIN)/staticcheck
VERSION       := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -X main.version=$(VERSION)
HOLDFAST      := $(BIN)/holdfast
TEST_TIMEOUT  ?= 12m
BENCH_N       ?= 200000
BENCH_RATE    ?= 30000
SEARCH_N      ?= 1000000
SWEEP_N       ?= 1000000

.PHONY: build run test lint bench minio clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(HOLDFAST) ./cmd/holdfast

run: build
	$(HOLDFAST) serve

$(MINIO_STAMP):
	@mkdir -p $(BIN)
	@echo "building MinIO $(MINIO_VERSION) into .bin/ (once; a few minutes)"
	GOBIN=$(BIN) $(GO) install github.com/minio/minio@$(MINIO_VERSION)
	@touch $@

minio: $(MINIO_STAMP)

# test starts a throwaway MinIO on 127.0.0.1, runs every test with the race
# detector against it, and stops it whatever the outcome.
test: build minio
	@scripts/minio.sh start
	@eval "$$(scripts/minio.sh env)"; export HOLDFAST_BIN=$(HOLDFAST); \
	  $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./... ; rc=$$?; \
	  scripts/minio.sh stop; exit $$rc

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@latest

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# bench runs the ingest benchmark against a throwaway MinIO and prints its
# figures next to the naive one-PUT-per-message baseline and a three-node
# cluster of the same run (clients sending as fast as answered: capacity),
# then ingest offered at BENCH_RATE msgs/s for 300,000 messages (the ack
# latency at that load), then the search benchmark over SEARCH_N messages
# next to raw Bleve indexing of the same documents, then a retention sweep
# over SWEEP_N expired messages, then the Go benchmarks.
bench: build minio
	@scripts/minio.sh start
	@eval "$$(scripts/minio.sh env)"; \
	  $(HOLDFAST) bench ingest -n $(BENCH_N) -nodes 3 ; rc=$$?; \
	  $(HOLDFAST) bench ingest -n 300000 -rate $(BENCH_RATE) -naive 300 || rc=1; \
	  $(HOLDFAST) bench search -n $(SEARCH_N) || rc=1; \
	  $(HOLDFAST) bench sweep -n $(SWEEP_N) || rc=1; \
	  $(GO) test -run '^$$' -bench . -benchtime 2x ./archive/... ./gateway/... ./cluster/... || rc=1; \
	  scripts/minio.sh stop; exit $$rc

clean:
	rm -rf $(HOLDFAST) holdfast-data

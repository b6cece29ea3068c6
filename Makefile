# llmrouter build and test entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO        ?= go
BIN       ?= bin/llmrouter
CONFIG    ?= configs/default.yaml
# LISTEN overrides server.listen for `make run` (make run LISTEN=:8081).
LISTEN    ?=
IMAGE     ?= llmrouter
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 30000x
SDK_DIR   := test/sdk
# Postgres with pgvector for the database tests (scripts/setup-pgvector.sh makes it).
LLMROUTER_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export LLMROUTER_TEST_DATABASE_URL

.PHONY: build run test test-go test-sdk bench weights lint fuzz docker docker-build-static check-config tidy-check setup-db setup-chromium clean soak soak-smoke

## build: compile bin/llmrouter
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/llmrouter

## run: start llmrouter on the offline default config (simulated models, no
## network); LISTEN=:8081 serves on another port
run: build
	$(BIN) -config $(CONFIG) $(if $(LISTEN),-listen $(LISTEN))

## test: everything CI checks, in order; nothing is skipped
test: setup-db setup-chromium
	$(MAKE) --no-print-directory tidy-check
	$(GO) vet ./...
	$(MAKE) --no-print-directory test-go
	$(MAKE) --no-print-directory soak-smoke
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory test-sdk
	$(MAKE) --no-print-directory docker-build-static

## test-go: unit, handler, Postgres and SDK tests with the race detector
test-go: $(SDK_DIR)/node_modules/.package-lock.json
	LLMROUTER_SDK_DIR=$(CURDIR)/$(SDK_DIR) $(GO) test -race -count=1 ./...

## fuzz: a short run of every native fuzz target (FUZZTIME each). The budget is
## a count of inputs, not a duration: a duration-based -fuzztime can end a
## healthy run with a false "context deadline exceeded" on a loaded machine,
## and so can one that expires while new-coverage inputs are being minimized
## (which is off here). A crasher is still saved to testdata/fuzz as found.
fuzz:
	@pkgs=$$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | xargs -r -n1 dirname | sort -u); \
	[ -n "$$pkgs" ] || { echo "fuzz: no fuzz targets found"; exit 1; }; \
	for pkg in $$pkgs; do \
	  for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz'); do \
	    echo "fuzz: $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 0 "$$pkg"; \
	  done; \
	done

## test-sdk: the official openai npm package against a running llmrouter
test-sdk: $(SDK_DIR)/node_modules/.package-lock.json
	LLMROUTER_SDK_DIR=$(CURDIR)/$(SDK_DIR) $(GO) test -count=1 -v -run TestSDKConformance ./cmd/llmrouter/

$(SDK_DIR)/node_modules/.package-lock.json: $(SDK_DIR)/package.json $(SDK_DIR)/package-lock.json
	cd $(SDK_DIR) && npm ci --no-audit --no-fund
	touch $@

## soak: the chaos soak (SOAK, default 10m; full fault schedule; fake upstreams,
## real Postgres); writes SOAK_REPORT. RELIABILITY.md summarises the latest run.
SOAK        ?= 10m
SOAK_REPORT ?= $(CURDIR)/soak-report.md
soak: setup-db
	LLMROUTER_SOAK=$(SOAK) LLMROUTER_SOAK_FAULTS=full LLMROUTER_SOAK_REPORT=$(SOAK_REPORT) \
	  $(GO) test -count=1 -timeout 60m -v -run '^TestSoak$$' ./cmd/llmrouter/

## soak-smoke: a 2-minute soak with fewer faults (part of make test); zero lost
soak-smoke:
	LLMROUTER_SOAK=2m $(GO) test -count=1 -timeout 10m -run '^TestSoak$$' ./cmd/llmrouter/

## bench: the benchmark suite that writes BENCHMARKS.md
bench:
	bash scripts/bench.sh

## weights: refit the embedded router model on the shared MMLU routing data
# The hand prior stays at scale 1 (MMLU exercises none of code, tools or word
# problems, so the data cannot tell how much those signals are worth), and the
# scores are put on the hand-weight scale with cuts 0.95 and 1.95: prompts
# without lettered options split as the hand weights would there. See README
# "The learned scorer".
weights:
	$(GO) run ./cmd/llmrouter router fit -name mmlu-default -priors 1 -cuts hand:0.95,1.95 \
		-data ../shared/datasets/routing/mmlu_train_subjects.jsonl \
		-out router/classifier/weights/default.json

## lint: formatting and vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## tidy-check: go.mod and go.sum are what `go mod tidy` makes them (direct
## dependencies not marked // indirect, nothing missing or stale)
tidy-check:
	@$(GO) mod tidy -diff || { echo "tidy-check: run 'go mod tidy' and commit go.mod and go.sum"; exit 1; }

## docker: build the image (docker or podman); says so when there is no engine
docker:
	@engine=$$(command -v docker || command -v podman || true); \
	if [ -z "$$engine" ] || ! "$$engine" info >/dev/null 2>&1; then \
	  echo "make docker: no running container engine (docker or podman) here; nothing built."; \
	  echo "  The image's build stage is 'make docker-build-static', which 'make test' runs."; \
	  exit 1; \
	fi; \
	"$$engine" build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

## docker-build-static: the static build the Dockerfile runs
docker-build-static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN) ./cmd/llmrouter

## check-config: validate CONFIG (default configs/default.yaml)
check-config: build
	$(BIN) check-config -config $(CONFIG)

## setup-chromium: Debian's headless Chromium for the dashboard tests (idempotent)
setup-chromium:
	bash scripts/setup-chromium.sh

## setup-db: local PostgreSQL with the vector extension (idempotent)
setup-db:
	bash scripts/setup-pgvector.sh

clean:
	rm -rf bin

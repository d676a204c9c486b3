# Jimu — the two commands a new machine needs are `make run` and `make test`.
# These machines set GOTOOLCHAIN=local in the go env file; go.mod asks for
# go1.26.10 (standard-library fixes), which `auto` fetches from the proxy.
export GOTOOLCHAIN := auto
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build run test test-go test-mongo lint fmt-check vet fuzz bench clean ui ui-check ui-size

all: build

build: ui
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/jimu ./cmd/jimu

## run: build and start Jimu on the embedded SQLite store in ./jimu_data
run: build
	./bin/jimu serve

## test: every test — the web app built and type-checked, formatting, vet,
## unit, API and browser tests on SQLite, the store conformance suite on a
## MongoDB-wire server (FerretDB, built by the test harness), short fuzz
## runs, and govulncheck against an offline DB.
test: ui ui-check fmt-check vet test-go fuzz vuln

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -count=1 -timeout 20m ./...

## fuzz: a short run of each fuzz target (the corpus seeds run in test-go)
# A count, not a duration: a duration-bounded run can fail with "context
# deadline exceeded" when a worker is busy as the clock runs out.
FUZZTIME ?= 20000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzPushdown$$' -fuzztime $(FUZZTIME) ./engine/expression/
	$(GO) test -run '^$$' -fuzz '^FuzzTranslate$$' -fuzztime $(FUZZTIME) ./engine/store/sqlite/
	$(GO) test -run '^$$' -fuzz '^FuzzTranslate$$' -fuzztime $(FUZZTIME) ./engine/store/mongo/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeObject$$' -fuzztime $(FUZZTIME) ./engine/server/
	$(GO) test -run '^$$' -fuzz '^FuzzNumbers$$' -fuzztime $(FUZZTIME) ./engine/server/
	$(GO) test -run '^$$' -fuzz '^FuzzDecimal$$' -fuzztime $(FUZZTIME) ./metadata/
	$(GO) test -run '^$$' -fuzz '^FuzzEventBody$$' -fuzztime $(FUZZTIME) ./engine/store/
	$(GO) test -run '^$$' -fuzz '^FuzzToken$$' -fuzztime $(FUZZTIME) ./forms/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeForm$$' -fuzztime $(FUZZTIME) ./forms/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRule$$' -fuzztime $(FUZZTIME) ./workflows/
	$(GO) test -run '^$$' -fuzz '^FuzzParseTemplate$$' -fuzztime $(FUZZTIME) ./workflows/action/
	$(GO) test -run '^$$' -fuzz '^FuzzParseOffset$$' -fuzztime $(FUZZTIME) ./workflows/action/
	$(GO) test -run '^$$' -fuzz '^FuzzBucket$$' -fuzztime $(FUZZTIME) ./engine/store/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./dashboards/
	$(GO) test -run '^$$' -fuzz '^FuzzOrder$$' -fuzztime $(FUZZTIME) ./dashboards/

## bench: load 1,000,000 deals into SQLite and measure the running binary
bench:
	bash .ci/bench.sh

clean:
	rm -rf bin ui/dist/app

# --- the workspace app (ui/) ---------------------------------------------------
# `make ui` installs the app's npm packages from the committed lock file
# (npm ci, again only when package.json or the lock changed) and builds it
# with vite into ui/dist/app, which the binary embeds. Without a build the
# binary serves ui/dist/placeholder, a page that says how to build it.
UI_SRC := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/svelte.config.js ui/tsconfig.json
NPM    ?= npm

ui: ui/dist/app/index.html

ui/node_modules/.ci-stamp: ui/package.json ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

ui/dist/app/index.html: ui/node_modules/.ci-stamp $(UI_SRC)
	cd ui && $(NPM) run --silent build

## ui-check: type-check the app (svelte-check)
ui-check: ui/node_modules/.ci-stamp
	cd ui && $(NPM) run --silent check

## ui-size: the app's JavaScript, gzipped (the workspace's budget is 250 KB)
ui-size: ui
	@for f in ui/dist/app/assets/*.js; do printf '%8d  %s\n' "$$(gzip -9c "$$f" | wc -c)" "$$f"; done
	@printf '%8d  total gzipped\n' "$$(cat ui/dist/app/assets/*.js | gzip -9c | wc -c)"

# --- vulnerability check (offline) -------------------------------------------
# `make vuln` runs govulncheck against a local database that .ci/vulndb.sh
# builds from the golang.org/x/vulndb module (Go module proxy only, no
# vuln.go.dev). The DB and a pinned govulncheck are cached in VULN_CACHE
# (default: $(go env GOCACHE)/../jimu-vulndb): the first run on a machine
# takes ~4-5 min (compiling vulndb's indexer), later runs ~0.3 s + the scan.
#   make vuln                           # scan ./... with go.mod's toolchain
#   make vuln VULN_FLAGS='-show verbose'
#   make vuln GOTOOLCHAIN=go1.26.8      # check the stdlib of another Go
# Exit status 3 from govulncheck means reachable vulnerabilities were found.
VULN_CACHE ?=
VULN_FLAGS ?=

.PHONY: vuln
vuln:
	@set -e; \
	export GOTOOLCHAIN="$${GOTOOLCHAIN:-auto}"; \
	cache="$(VULN_CACHE)"; \
	if [ -z "$$cache" ]; then cache="$$(go env GOCACHE)/../jimu-vulndb"; fi; \
	db="$$(bash .ci/vulndb.sh "$$cache")"; \
	"$$cache/bin/govulncheck" -db "file://$$db" $(VULN_FLAGS) ./...

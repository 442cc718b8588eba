GO       ?= go
BIN      := bin/stowage
TESTARGS ?= -race -count=1 -timeout 30m
# Fuzzing time per target in make test and make soak; targets under test/
# start a whole node, so they get the second, longer time.
FUZZTIME      ?= 3s 10s
SOAK_FUZZTIME ?= 2m 5m

.PHONY: build build-ceph run test test-ceph soak test-deps lint clean

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/stowage

# The binary that can keep volumes on Ceph RBD (serve --ceph): cgo against
# Debian's librbd/librados 16.2, hence go-ceph's pacific tag.
CEPH_TAGS := ceph pacific
build-ceph:
	CGO_ENABLED=1 $(GO) build -tags '$(CEPH_TAGS)' -o $(BIN) ./cmd/stowage

run: build
	./$(BIN) serve

test-deps:
	./scripts/install-test-deps.sh

# Runs every test with the race detector against real clients and a real
# PostgreSQL, installing what is missing first: the packages' own tests,
# then the whole-system suites under test/ (short versions, printing what
# they measured), then every fuzz target for a few seconds.
test: test-deps lint
	@dsn=$$(./scripts/test-postgres.sh start) && export TEST_PG_DSN="$$dsn" && \
	$(GO) test $(TESTARGS) $$($(GO) list ./... | grep -v /test/) && \
	$(MAKE) --no-print-directory test-ceph && \
	./scripts/suites.sh -race && ./scripts/fuzz.sh $(FUZZTIME); rc=$$?; \
	./scripts/test-postgres.sh stop; exit $$rc

# The Ceph suites: the RBD backend and a --ceph server against a
# throwaway cluster (scripts/test-ceph.sh), always torn down. They run
# where the Ceph daemons are installed (test-deps installs them); a machine
# without them runs everything else.
CEPH_TESTARGS ?= -race -count=1 -timeout 10m
test-ceph:
	@if ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null || [ ! -f /usr/include/rbd/librbd.h ]; then \
	  echo "ceph-mon, ceph-osd or librbd-dev not installed: skipping the Ceph suites"; exit 0; fi; \
	CGO_ENABLED=1 $(GO) vet -tags '$(CEPH_TAGS)' ./internal/rbd/ ./internal/server/ ./internal/api/native/ || exit 1; \
	conf=$$(./scripts/test-ceph.sh start) || exit 1; \
	trap './scripts/test-ceph.sh stop "$$conf"' EXIT; trap 'exit 1' INT TERM; \
	export TEST_CEPH_CONF="$$conf" CGO_ENABLED=1; \
	$(GO) test -tags '$(CEPH_TAGS)' $(CEPH_TESTARGS) ./internal/rbd/ && \
	$(GO) test -tags '$(CEPH_TAGS)' $(CEPH_TESTARGS) -run 'Ceph' ./internal/api/native/

# The long versions of the suites under test/ (25 crash cycles, 60 s of
# load) and minutes of fuzzing per target; prints the figures.
soak: test-deps
	@dsn=$$(./scripts/test-postgres.sh start) && export TEST_PG_DSN="$$dsn" && \
	STOWAGE_SOAK=1 ./scripts/suites.sh && ./scripts/fuzz.sh $(SOAK_FUZZTIME); rc=$$?; \
	./scripts/test-postgres.sh stop; exit $$rc

lint:
	@out=$$(gofmt -l cmd internal bench test 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

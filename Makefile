GO       ?= go
BIN      := bin/stowage
TESTARGS ?= -race -count=1 -timeout 30m

.PHONY: build run test test-deps lint clean

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/stowage

run: build
	./$(BIN) serve

test-deps:
	./scripts/install-test-deps.sh

# Runs every test with the race detector against real clients and a real
# PostgreSQL, installing what is missing first.
test: test-deps lint
	@dsn=$$(./scripts/test-postgres.sh start) && \
	TEST_PG_DSN="$$dsn" $(GO) test $(TESTARGS) ./... ; rc=$$?; \
	./scripts/test-postgres.sh stop; exit $$rc

lint:
	@out=$$(gofmt -l cmd internal bench 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

GO       ?= go
BIN      := bin/stowage
# -race turns on checkptr in every package. The C that modernc.org/sqlite
# (and its libc) translated to Go passes it, but runs two to three times
# slower under it, in every query of every test (a test server's start
# took 1 s instead of 0.4 s). Race instrumentation stays on everywhere
# (leaving modernc out of it was faster still, but made the detector
# report races in database/sql that plain -race never reports); our own
# packages keep checkptr.
RACEFLAGS ?= -race -gcflags=modernc.org/...=-d=checkptr=0
TESTARGS  ?= $(RACEFLAGS) -count=1 -timeout 30m
# Fuzzing time per target in make test and make soak; targets under test/
# start a whole node, so they get the second, longer time.
FUZZTIME      ?= 3s 10s
SOAK_FUZZTIME ?= 2m 5m
# `stowage version` prints these, stamped into the binary at build time.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/stowage/stowage/internal/cli.Version=$(VERSION) \
           -X github.com/stowage/stowage/internal/cli.Commit=$(COMMIT)
# make install copies the binary here; BINDIR=$$HOME/.local/bin for a user.
BINDIR  ?= /usr/local/bin

export GO RACEFLAGS TESTARGS FUZZTIME SOAK_FUZZTIME

.PHONY: deb build build-ceph install run test test-ceph test-cluster soak test-deps lint clean

build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/stowage

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/stowage
	@echo "installed $(DESTDIR)$(BINDIR)/stowage ($(VERSION))"

# The Debian package (dpkg-deb) of the binary, in bin/.
deb: build
	./scripts/build-deb.sh $(BIN) $(VERSION) bin

# The binary that can keep volumes on Ceph RBD (serve --ceph): cgo against
# Debian's librbd/librados/libcephfs 16.2, hence go-ceph's pacific tag.
CEPH_TAGS := ceph pacific
build-ceph:
	CGO_ENABLED=1 $(GO) build -tags '$(CEPH_TAGS)' -o $(BIN) ./cmd/stowage

run: build
	./$(BIN) serve

test-deps:
	./scripts/install-test-deps.sh

# Runs every test with the race detector against real clients and a real
# PostgreSQL (its own, unless TEST_PG_DSN names one), installing what is
# missing first: gofmt and go vet, the packages' own tests, the
# whole-system suites under test/ (short versions, printing what they
# measured), then every fuzz target for a few seconds. Every stage runs
# even when an earlier one fails; the end names the failed stages and the
# wall time.
test: test-deps
	@./scripts/test.sh test

# The Ceph suites: the RBD and RADOS backends, the S3 client suites with
# their bodies in RADOS, filesystem volumes on CephFS over NFS, and a
# --ceph server against a throwaway cluster (scripts/test-ceph.sh), always
# torn down, then the cluster suite below on the same cluster. They run
# where the Ceph daemons
# are installed (test-deps installs them); a machine without them runs
# everything else. The packages' Ceph tests run one package at a time
# (-p 1): they share the cluster's pool, and TestCephAdminPools counts what
# its own steps add to it.
CEPH_TESTARGS ?= -race -count=1 -timeout 10m
# The S3 suites that run again with their bodies in RADOS: every client
# (aws-sdk-go-v2, minio-go, aws-cli, boto3), multipart manifests,
# encryption, versioning, object lock, the sweeper and the crash test.
# Without -race: the packages stage runs them under the race detector on
# the local backend, and what RADOS adds is the backend's own code, which
# internal/rados runs under -race above.
# Then the crash loop (test/crashloop), 3 kill cycles on the Ceph binary
# with volumes on RBD and bodies in RADOS, printing what it verified and
# the RADOS objects left after the sweep (leaked).
CEPH_S3ARGS ?= -count=1 -timeout 15m
S3_ON_RADOS := TestScenario|TestAWSCLI|TestBoto3|TestManifest|TestMultipart|TestSSE|TestVersioning|TestObjectLock|TestRADOSSweep|TestCrash$$
test-ceph:
	@if ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null || ! command -v ceph-mgr >/dev/null || ! command -v ceph-mds >/dev/null || [ ! -f /usr/include/rbd/librbd.h ] || [ ! -f /usr/include/cephfs/libcephfs.h ]; then \
	  echo "ceph-mon, ceph-osd, ceph-mgr, ceph-mds, librbd-dev or libcephfs-dev not installed: skipping the Ceph suites"; exit 0; fi; \
	CGO_ENABLED=1 $(GO) vet -tags '$(CEPH_TAGS)' ./internal/rbd/ ./internal/rados/ ./internal/cephfs/ ./internal/nbd/ ./internal/nfs/ ./internal/s3/ ./internal/server/ ./internal/api/native/ ./internal/api/hpcai/ ./test/crashloop/ || exit 1; \
	conf=$$(STOWAGE_TEST_CEPH_MGR=1 STOWAGE_TEST_CEPH_FS=1 ./scripts/test-ceph.sh start) || exit 1; \
	trap './scripts/test-ceph.sh stop "$$conf"' EXIT; trap 'exit 1' INT TERM; \
	export TEST_CEPH_CONF="$$conf" CGO_ENABLED=1; \
	$(GO) test -tags '$(CEPH_TAGS)' $(CEPH_TESTARGS) ./internal/rbd/ ./internal/rados/ ./internal/cephfs/ && \
	$(GO) test -tags '$(CEPH_TAGS)' $(CEPH_S3ARGS) -run '$(S3_ON_RADOS)' ./internal/s3/ && \
	$(GO) test -v -tags '$(CEPH_TAGS)' $(CEPH_S3ARGS) -run '^TestCrashLoopCeph$$' ./test/crashloop/ && \
	$(GO) test -p 1 -tags '$(CEPH_TAGS)' $(CEPH_TESTARGS) -run 'Ceph' ./internal/nbd/ ./internal/nfs/ ./internal/server/ ./internal/api/native/ ./internal/api/hpcai/ && \
	$(GO) test -tags '$(CEPH_TAGS)' $(CLUSTER_TESTARGS) ./test/cluster/

# The cluster suite (test/cluster): three nodes behind HAProxy on the
# Ceph above, SIGKILL cycles (two; STOWAGE_SOAK=1 runs ten). -v prints its
# figures (the nodes log to files; a failure prints their tails).
CLUSTER_TESTARGS ?= -count=1 -v -timeout 15m -run 'TestCluster$$'

# The cluster suite alone, on a throwaway Ceph of its own (make soak runs
# it with STOWAGE_SOAK=1).
test-cluster:
	@if ! command -v ceph-mon >/dev/null || ! command -v ceph-mds >/dev/null || ! command -v haproxy >/dev/null || [ ! -f /usr/include/rbd/librbd.h ] || [ ! -f /usr/include/cephfs/libcephfs.h ]; then \
	  echo "ceph-mon, ceph-mds, haproxy, librbd-dev or libcephfs-dev not installed: skipping the cluster suite"; exit 0; fi; \
	conf=$$(STOWAGE_TEST_CEPH_MGR=1 STOWAGE_TEST_CEPH_FS=1 ./scripts/test-ceph.sh start) || exit 1; \
	trap './scripts/test-ceph.sh stop "$$conf"' EXIT; trap 'exit 1' INT TERM; \
	export TEST_CEPH_CONF="$$conf" CGO_ENABLED=1; \
	$(GO) test -tags '$(CEPH_TAGS)' $(CLUSTER_TESTARGS) ./test/cluster/

# The long versions of the suites under test/ (25 crash cycles, 60 s of
# load) and minutes of fuzzing per target; prints the figures.
soak: test-deps
	@./scripts/test.sh soak

lint:
	@out=$$(gofmt -l cmd internal bench test 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

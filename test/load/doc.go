// Package load runs one real node under load on every plane at once: wrk
// on the control plane's GETs across every face, bench/s3 on small
// objects and fio over NBD, and requires no errors while printing the
// control plane's latency percentiles and the node's memory before and
// after. `go test` runs it for 5 s, STOWAGE_SOAK=1 for 60 s
// (STOWAGE_LOAD_DURATION overrides both). It needs wrk and fio, which
// scripts/install-test-deps.sh installs. The package holds only tests.
package load

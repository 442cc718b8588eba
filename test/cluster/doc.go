// Package cluster is the whole-system suite of several nodes: three real
// Ceph-enabled binaries on one PostgreSQL and one Ceph behind HAProxy,
// a mixed workload through HAProxy (S3 puts, gets and multipart uploads;
// volumes created, snapshotted, cloned and attached, with NBD writes sent
// to the node each attachment names; filesystem volumes in CephFS
// attached, with files copied in by nfs-cp through the NFS address the
// attachment names; orders), and one node killed with SIGKILL at a random
// moment, cycle after cycle. After each kill every acknowledged S3 write,
// every NBD write before a completed FLUSH and every file nfs-cp reported
// copied must read back byte-identical from another node (files with
// nfs-cat, under the same export path), the dead node's jobs must be
// taken over within the bound, the buckets' usage must equal their
// listings and the killed node must rejoin. It prints what was
// acknowledged, verified and lost, and the takeover times.
//
// It needs the ceph build tag, TEST_PG_DSN, TEST_CEPH_CONF (a cluster
// with the CephFS scripts/test-ceph.sh makes under STOWAGE_TEST_CEPH_FS=1),
// haproxy and libnfs's nfs-cp and nfs-cat:
// `make test-ceph` runs the short version (two cycles), `make soak` the
// long one; BenchmarkSmallPuts measures S3 small PUTs through HAProxy with
// one, two and three nodes.
package cluster

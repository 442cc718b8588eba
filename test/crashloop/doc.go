// Package crashloop proves that what Stowage acknowledges survives a
// crash. It builds the real binary, runs `stowage serve` as a child on one
// data dir, drives a mixed workload (S3 puts, overwrites, multipart
// uploads and deletes from several clients; NBD writes with FLUSH and FUA
// on two volumes; volume create, snapshot, clone and delete and object
// storage orders through the native API), kills it with SIGKILL at a
// random moment, restarts it and checks: every acknowledged S3 write reads
// back byte-identical and no partial object is visible; bucket usage is
// the sum of the listed objects; every NBD write acknowledged before a
// completed FLUSH (or with FUA) is present; the block pool's fsck is
// clean; no orphan blob survives start-up GC; every job and resource is
// in a state it can leave or rest in. `go test` runs 5 cycles;
// STOWAGE_SOAK=1 runs 25 (STOWAGE_CRASH_CYCLES overrides both).
//
// With the ceph build tag and a test cluster (`make test-ceph`),
// TestCrashLoopCeph runs the same loop, 3 cycles, on the Ceph binary with
// volumes on RBD and object bodies in RADOS, on PostgreSQL, and ends by
// sweeping the blob intents the kills left and counting the RADOS objects
// nothing names (none may be). The package holds only tests.
package crashloop

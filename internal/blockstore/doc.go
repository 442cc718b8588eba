// Package blockstore owns the local volume engine: a thin pool in the
// dm-thin model. One sparse data file holds fixed-size chunks; every volume,
// snapshot and clone is a peer record with its own radix map of 4 KiB pages
// whose entries point at chunks. Pages and chunks are refcounted and shared
// copy-on-write, so snapshot and clone copy one root page and commit, no
// matter how much data the volume holds, and no read ever walks a parent
// chain: an unmapped entry reads as zeros.
//
// Metadata (maps, refcounts, volume records) lives in RAM and changes only
// through a checksummed journal (meta.wal) and periodic checkpoints
// (meta.ckpt.N named by pool.json). Durability follows the dm-thin ordering:
// a commit fdatasyncs the data file before it appends and syncs the journal
// record that makes new mappings visible, and chunks freed by a commit are
// not reused until that commit is durable. Writes after the last Flush may
// be lost in a crash, the contract of a disk with a volatile write cache.
//
// The package does not own naming, authorization, quotas or export policy:
// the volume service decides those and calls the Pool by string volume ID.
// It also knows nothing about NBD; a *Volume happens to have the methods an
// NBD export needs.
package blockstore

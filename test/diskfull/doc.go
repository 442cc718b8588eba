// Package diskfull runs a whole node with its data dir on a small
// loop-mounted ext4 file system, fills it through S3 and NBD, and expects
// clean refusals (S3 507 InsufficientStorage, NBD ENOSPC), nothing
// acknowledged lost or corrupted, and full service once space is freed,
// across a restart. It needs root to mount and skips without it. The
// package holds only tests.
package diskfull

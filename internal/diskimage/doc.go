// Package diskimage moves disk images in and out of block volumes: it reads
// raw and qcow2 images (written from the qcow2 specification in qemu's
// docs/interop/qcow2.txt; no qemu at run time) into any target with
// WriteAt, and writes a volume out as raw or qcow2, asking the volume which
// ranges are allocated so holes are neither read nor stored.
//
// Images come from tenants, so every field of a qcow2 header and table is
// checked before it sizes an allocation or a read: memory is bounded by one
// L2 table plus one read buffer whatever the image claims, and offsets
// outside the image are errors. Features that would reach outside the
// image (backing files, external data files) or that this reader does not
// implement (encryption, extended L2 entries, zstd clusters) are refused
// with errs.Invalid rather than misread.
//
// The package knows no buckets, volumes or projects: callers hand it an
// io.ReaderAt (a bucket object read by ranges, a file) and a target.
package diskimage

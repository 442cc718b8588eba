// Package backup writes incremental, self-contained volume backups into a
// bucket and reads them back. The format is documented in
// docs/backup-format.md; in short:
//
//   - Chunk records (one volume chunk, zstd-compressed, then sealed with
//     AES-256-GCM under the set's key, bound to the set and the chunk's
//     index) are appended to pack objects of a few tens of MiB.
//   - A backup's manifest lists every non-zero chunk of the volume with the
//     pack, offset and length of its record. A backup writes records only
//     for the chunks that changed since the previous backup (the caller
//     passes the thin pool's map diff) and copies the previous manifest's
//     entries for the rest, so every manifest alone restores its backup.
//   - The manifest is written last, as one object: a backup that stops
//     half way leaves packs no manifest names, never a visible backup.
//   - Packs are reference counted by the manifests that name them:
//     deleting a backup deletes its manifest, then every pack no remaining
//     manifest names, once it is older than a grace period, so a backup
//     running at the same time never loses the packs it has not yet
//     named.
//
// The package knows nothing of projects, volumes or S3: it is handed a
// Store (one bucket prefix), a 256-bit key, and a source or target with
// ReadAt or WriteAt.
package backup

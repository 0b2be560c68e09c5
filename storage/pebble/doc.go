// Package pebblestore is the durable storage.Store, on
// github.com/cockroachdb/pebble/v2.
//
// # Data directory
//
//	<dir>/legion.manifest   format version, node name, incarnation, CRC-32C
//	<dir>/LOCK              held while open (in-process and fcntl lock)
//	<dir>/pebble/           pebble's database
//
// Open with Options.Create makes a missing or empty directory a new store
// (with a new random incarnation); otherwise it opens the existing store and
// fails, never resetting anything, with an error wrapping:
//
//   - storage.ErrNotFound: dir missing or empty and Create is false;
//   - storage.ErrWrongNode: the manifest names another node (both named);
//   - storage.ErrVersion: the manifest's format version, or pebble's format
//     major version, is one this build cannot read;
//   - storage.ErrCorrupt: manifest damaged or missing from a non-empty
//     directory, pebble's files damaged or missing, or pebble's identity
//     record disagreeing with the manifest (the cause is wrapped too);
//   - storage.ErrLocked: the directory is open already;
//   - an error wrapping the cause (syscall.ENOSPC, syscall.EROFS, ...): the
//     directory does not take a write and its fsync (a probe file, removed);
//   - storage.ErrInvalidOptions.
//
// A new directory is created in an order that makes the manifest its commit
// point: directories (each parent fsynced), pebble, pebble's identity record
// (synced), then the manifest (temp file, fsync, rename, directory fsync). A
// crash before the manifest is durable leaves a directory that Open refuses
// with ErrCorrupt; remove it to start afresh (nothing was ever acknowledged
// from it).
//
// # Durability
//
// Commit writes the batch as one pebble batch with pebble.Sync: it returns
// after the WAL holding it is fsynced, and a crash keeps all of the batch or
// none. pebble's commit pipeline performs one fsync for all commits queued
// while the previous fsync ran: group commit (Metrics.WALSyncs counts them).
//
// A disk failure fails the store, never the process: a failed write, fsync,
// file creation or rename (a full disk, an I/O error, a read-only or
// unwritable directory), or a fatal pebble error, is final. The store logs it
// once and every later call, the Commit under way included, returns an error
// wrapping ErrFailed and the cause (test it with errors.Is, e.g.
// syscall.ENOSPC). Retrying after a failed fsync is unsafe (the kernel may
// have dropped the dirty pages and report success next time), and the process
// must not go on acknowledging writes: it should stop, and restarting
// recovers from the WAL. pebble never sees the error (it panics on some with
// its mutex released, and waits forever on others): the goroutine that meets
// it halts for good, and Commit returns the failure. Close of a failed store
// returns the failure at once, leaving pebble where it halted. Open writes and
// fsyncs a probe file first, so that opening a full, read-only or unwritable
// directory fails at once with the cause.
//
// # Goroutines
//
// pebble's: the commit pipeline's WAL flusher, flushes, compactions, the
// obsolete-file cleaner; and the disk-health ticker of the file system
// wrapper that reports pebble disk operations slower than 5s (a Warn log).
// The store creates that wrapper itself, rather than letting pebble do it,
// because pebble leaks its ticker when Open fails. Close waits for running
// calls, closes pebble (which stops and waits for its goroutines), then stops
// the ticker (which receives the stop synchronously, then returns). A failed
// Open leaves no goroutine behind, unless the disk failed under it. Each
// Commit runs pebble's commit on a goroutine of its own that returns before
// Commit does, unless the store fails: goroutines that met a disk failure halt
// for good, with pebble's.
//
// # Logging
//
// pebble's logs go to Options.Logger (message "pebble", text under key
// "text"), as do its background errors, corruption reports, slow disk and
// write stall events; nothing goes to stdout or the standard logger.
package pebblestore

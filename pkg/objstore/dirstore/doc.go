// Package dirstore is an objstore.Store kept in a local directory: one
// sub-directory per bucket, one file per object (keys with '/' become nested
// directories). Puts write a temporary file, fsync it and rename it into
// place, so readers never see a half-written object. Writes to a key hold a
// lock file (flock, in a hidden directory that is no bucket) across the
// rename, and conditional writes across their compare too, so
// PutIfVersion is a compare-and-swap even between processes sharing the
// directory. It serves unit tests and the local (cluster-less) run.
package dirstore

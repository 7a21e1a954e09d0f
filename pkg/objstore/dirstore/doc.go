// Package dirstore is an objstore.Store kept in a local directory: one
// sub-directory per bucket, one file per object (keys with '/' become nested
// directories). Puts write a temporary file, fsync it and rename it into
// place, so readers never see a half-written object. It serves unit tests
// and the local (cluster-less) run.
package dirstore

// Package s3store is an objstore.Store backed by an S3 API (MinIO in the
// cluster) through minio-go v7. S3 puts are atomic, so a reader never sees a
// half-written object.
package s3store

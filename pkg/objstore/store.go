// Package objstore defines the object store the pipeline keeps its data in,
// with a directory-backed implementation (dirstore) for unit tests and the
// local run, and an S3 implementation (s3store) for MinIO in the cluster.
package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) by Get and Stat when the object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrVersionMismatch is returned (wrapped) by PutIfVersion when the object
// is not at the version the caller read: another writer got there first.
var ErrVersionMismatch = errors.New("object version mismatch")

// VersionAbsent is the version PutIfVersion takes to mean "only if the
// object does not exist yet"; no existing object has it.
const VersionAbsent = ""

// Buckets the pipeline uses; EnsureBuckets creates them at start.
const (
	BucketDataset        = "dataset"
	BucketProcessed      = "processed-data"
	BucketMLflow         = "mlflow"
	BucketModelPromotion = "model-promotion"
	BucketInferenceLogs  = "inference-logs"
)

// AllBuckets lists every bucket the pipeline needs.
var AllBuckets = []string{BucketDataset, BucketProcessed, BucketMLflow, BucketModelPromotion, BucketInferenceLogs}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Bucket string
	Key    string
	Size   int64
}

// Store is a bucket/key object store. Put is all-or-nothing: a reader never
// sees a half-written object. Put creates a missing bucket: a store that
// came back empty (MinIO replaced without its volume) costs the writers
// nothing, where a bucket created only at process start would fail every
// write until a restart.
//
// GetVersioned and PutIfVersion are a compare-and-swap for objects that
// several writers read, decide on and rewrite (the promotion pointer, with
// two eval pods): a writer that read version v writes only if the object
// is still at v, so a decision taken on what it read can never overwrite
// what another writer put there meanwhile. A version is opaque and names
// the content (S3: the ETag; the directory store: a digest), so the same
// body written again has the same version, which is harmless: the caller
// decided on that very body.
type Store interface {
	EnsureBucket(ctx context.Context, bucket string) error
	Put(ctx context.Context, bucket, key string, body []byte, contentType string) error
	// GetVersioned returns the object's body and the version of exactly
	// that body; a missing object or bucket wraps ErrNotFound.
	GetVersioned(ctx context.Context, bucket, key string) (body []byte, version string, err error)
	// PutIfVersion writes body as Put does, but only if the object is at
	// version, as GetVersioned returned it; VersionAbsent means only if
	// the object does not exist. Otherwise nothing is written and the
	// error wraps ErrVersionMismatch. Like Put, it creates a missing bucket.
	PutIfVersion(ctx context.Context, bucket, key string, body []byte, contentType, version string) error
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	Stat(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// List returns the objects whose key starts with prefix, sorted by key.
	List(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error)
}

// Reader is the read half of Store, for code that only reads.
type Reader interface {
	Get(ctx context.Context, bucket, key string) ([]byte, error)
	Stat(ctx context.Context, bucket, key string) (ObjectInfo, error)
	List(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error)
}

// GetJSON reads the object at bucket/key and decodes it into v. A missing
// object is ErrNotFound (wrapped); a decode error names the object.
func GetJSON(ctx context.Context, s Reader, bucket, key string, v any) error {
	b, err := s.Get(ctx, bucket, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("failed to decode %s/%s: %w", bucket, key, err)
	}
	return nil
}

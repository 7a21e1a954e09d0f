package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/flts/flts-e2e/pkg/objstore"
)

// Config says where the S3 API is and how to sign requests.
type Config struct {
	// Endpoint is host:port without a scheme, e.g. "minio:9000".
	Endpoint  string
	AccessKey string
	SecretKey string
	// Secure selects https.
	Secure bool
	// Region is optional; MinIO's default is used when empty.
	Region string
	// CallTimeout bounds each call, minio-go's own retries included
	// (default DefaultCallTimeout).
	CallTimeout time.Duration
}

// DefaultCallTimeout bounds one store call: small objects (models of a few
// hundred KiB, JSON records) take milliseconds; a call still running after
// this is a store that does not answer, and the caller's retry (a
// redelivered event) takes over instead of a handler hanging.
const DefaultCallTimeout = 30 * time.Second

// Store is an S3-backed objstore.Store.
type Store struct {
	client  *minio.Client
	region  string
	timeout time.Duration
	logger  *slog.Logger
}

var _ objstore.Store = (*Store)(nil)

// New returns a Store for cfg. It does not contact the server; the first
// request does. A nil logger is silent.
func New(cfg Config, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Endpoint == "":
		return nil, errors.New("failed to create S3 client: empty endpoint")
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, errors.New("failed to create S3 client: access key and secret key are required")
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create S3 client for %s: %w", cfg.Endpoint, err)
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	return &Store{client: client, region: cfg.Region, timeout: timeout, logger: logger}, nil
}

// EnsureBucket creates bucket unless it exists. It is idempotent and
// tolerates racing creators (BucketAlreadyOwnedByYou).
func (s *Store) EnsureBucket(ctx context.Context, bucket string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	exists, err := s.client.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("failed to check bucket %q: %w", bucket, err)
	}
	if exists {
		return nil
	}
	err = s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s.region})
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			return nil
		}
		return fmt.Errorf("failed to create bucket %q: %w", bucket, err)
	}
	s.logger.Info("created bucket", "bucket", bucket)
	return nil
}

// Put uploads body as one object (a single PUT below minio-go's multipart
// threshold, so it is all-or-nothing).
func (s *Store) Put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	if err := s.put(ctx, bucket, key, body, minio.PutObjectOptions{ContentType: contentType}); err != nil {
		return fmt.Errorf("failed to put %s/%s: %w", bucket, key, err)
	}
	s.logger.Debug("put object", "bucket", bucket, "key", key, "size", len(body))
	return nil
}

// PutIfVersion uploads body as Put does, on condition that the object's
// ETag is version (If-Match) or, for objstore.VersionAbsent, that there is
// no object (If-None-Match: *). The server checks the condition and writes
// under its own object lock, so two writers that read the same version
// cannot both succeed. A failed condition (412 PreconditionFailed, or 404
// NoSuchKey for an If-Match on an object since deleted) wraps
// objstore.ErrVersionMismatch. A write whose answer was lost and that
// minio-go retried can fail its own condition: the caller then re-reads
// and finds its body in place.
func (s *Store) PutIfVersion(ctx context.Context, bucket, key string, body []byte, contentType, version string) error {
	opts := minio.PutObjectOptions{ContentType: contentType}
	if version == objstore.VersionAbsent {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(version)
	}
	err := s.put(ctx, bucket, key, body, opts)
	resp := minio.ToErrorResponse(err)
	switch {
	case err == nil:
	case resp.Code == minio.PreconditionFailed || resp.StatusCode == http.StatusPreconditionFailed,
		version != objstore.VersionAbsent && resp.Code == minio.NoSuchKey:
		return fmt.Errorf("failed to put %s/%s: %w: expected %s (%d %s: %s)",
			bucket, key, objstore.ErrVersionMismatch, describeVersion(version), resp.StatusCode, resp.Code, resp.Message)
	default:
		return fmt.Errorf("failed to put %s/%s: %w", bucket, key, err)
	}
	s.logger.Debug("put object", "bucket", bucket, "key", key, "size", len(body), "if_version", version)
	return nil
}

// put is one PutObject under the call timeout, repeated once after
// re-creating the bucket when the bucket is missing (see objstore.Store).
func (s *Store) put(ctx context.Context, bucket, key string, body []byte, opts minio.PutObjectOptions) error {
	if opts.ContentType == "" {
		opts.ContentType = "application/octet-stream"
	}
	put := func() error {
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		_, err := s.client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), opts)
		return err
	}
	err := put()
	if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
		// The store came back empty: re-create the bucket (see objstore.Store).
		s.logger.Warn("bucket missing; re-creating it", "bucket", bucket)
		if err = s.EnsureBucket(ctx, bucket); err == nil {
			err = put()
		}
	}
	return err
}

func describeVersion(v string) string {
	if v == objstore.VersionAbsent {
		return "no object"
	}
	return "ETag " + v
}

// Get downloads the object; a missing object or bucket wraps
// objstore.ErrNotFound.
func (s *Store) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	obj, err := s.client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to get %s/%s: %w", bucket, key, mapNotFound(err))
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, fmt.Errorf("failed to get %s/%s: %w", bucket, key, mapNotFound(err))
	}
	return b, nil
}

// GetVersioned downloads the object with its ETag. Both come from one GET
// response, so the ETag is that of the body returned even when a writer
// replaces the object meanwhile; a missing object or bucket wraps
// objstore.ErrNotFound.
func (s *Store) GetVersioned(ctx context.Context, bucket, key string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// Core's GetObject is the single request, where Client's Object may
	// stat and read in separate requests.
	rc, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("failed to get %s/%s: %w", bucket, key, mapNotFound(err))
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, "", fmt.Errorf("failed to get %s/%s: %w", bucket, key, err)
	}
	if info.ETag == "" {
		return nil, "", fmt.Errorf("failed to get %s/%s: the server sent no ETag", bucket, key)
	}
	return b, info.ETag, nil
}

// Stat describes the object; a missing object or bucket wraps
// objstore.ErrNotFound.
func (s *Store) Stat(ctx context.Context, bucket, key string) (objstore.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	info, err := s.client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("failed to stat %s/%s: %w", bucket, key, mapNotFound(err))
	}
	return objstore.ObjectInfo{Bucket: bucket, Key: key, Size: info.Size}, nil
}

// List returns the objects whose key starts with prefix, sorted by key (S3
// lists in UTF-8 binary order, which is Go's string order).
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]objstore.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var out []objstore.ObjectInfo
	for obj := range s.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("failed to list %s/%s: %w", bucket, prefix, obj.Err)
		}
		out = append(out, objstore.ObjectInfo{Bucket: bucket, Key: obj.Key, Size: obj.Size})
	}
	return out, nil
}

func mapNotFound(err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey", resp.Code == "NoSuchBucket":
		return fmt.Errorf("%w (%s)", objstore.ErrNotFound, resp.Code)
	case resp.Code == "" && resp.StatusCode == http.StatusNotFound:
		// HEAD responses carry no body, so StatObject may only know the status.
		return objstore.ErrNotFound
	}
	return err
}

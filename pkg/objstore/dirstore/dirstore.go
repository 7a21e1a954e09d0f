package dirstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flts/flts-e2e/pkg/atomicfile"
	"github.com/flts/flts-e2e/pkg/objstore"
)

// tmpDirName holds in-flight writes. It starts with a dot, which no valid
// bucket name does, so it never shows up as a bucket.
const tmpDirName = ".tmp"

// Store is a directory-backed objstore.Store. It is safe for concurrent use;
// concurrent Puts to one key leave exactly one of the written bodies.
type Store struct {
	root   string
	logger *slog.Logger
}

var _ objstore.Store = (*Store)(nil)

// New returns a Store rooted at dir, creating dir when missing. A nil logger
// is silent.
func New(dir string, logger *slog.Logger) (*Store, error) {
	if dir == "" {
		return nil, errors.New("failed to create dirstore: empty directory")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(dir, tmpDirName), 0o755); err != nil {
		return nil, fmt.Errorf("failed to create dirstore at %s: %w", dir, err)
	}
	return &Store{root: dir, logger: logger}, nil
}

// Root returns the directory the store keeps its buckets in.
func (s *Store) Root() string { return s.root }

// EnsureBucket creates the bucket directory when missing.
func (s *Store) EnsureBucket(ctx context.Context, bucket string) error {
	if err := validateBucket(bucket); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.root, bucket), 0o755); err != nil {
		return fmt.Errorf("failed to create bucket %q: %w", bucket, err)
	}
	return nil
}

// Put stores body under bucket/key atomically (temp file, fsync, rename).
// The bucket must exist, as in S3.
func (s *Store) Put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to put %s/%s: %w", bucket, key, err)
	}
	dst, err := s.objectPath(bucket, key)
	if err != nil {
		return err
	}
	// The bucket is created if missing (see objstore.Store).
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("failed to put %s/%s: %w", bucket, key, err)
	}
	if err := atomicfile.WriteVia(filepath.Join(s.root, tmpDirName), dst, body, 0o644); err != nil {
		return fmt.Errorf("failed to put %s/%s: %w", bucket, key, err)
	}
	s.logger.Debug("put object", "bucket", bucket, "key", key, "size", len(body))
	return nil
}

// Get returns the object's body; a missing object or bucket wraps
// objstore.ErrNotFound.
func (s *Store) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	p, err := s.objectPath(bucket, key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("failed to get %s/%s: %w", bucket, key, mapNotFound(err))
	}
	return b, nil
}

// Stat describes the object; a missing object or bucket wraps
// objstore.ErrNotFound.
func (s *Store) Stat(ctx context.Context, bucket, key string) (objstore.ObjectInfo, error) {
	p, err := s.objectPath(bucket, key)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("failed to stat %s/%s: %w", bucket, key, mapNotFound(err))
	}
	if fi.IsDir() {
		// A "directory" is only a common key prefix, not an object.
		return objstore.ObjectInfo{}, fmt.Errorf("failed to stat %s/%s: %w", bucket, key, objstore.ErrNotFound)
	}
	return objstore.ObjectInfo{Bucket: bucket, Key: key, Size: fi.Size()}, nil
}

// List returns the objects whose key starts with prefix, sorted by key.
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]objstore.ObjectInfo, error) {
	if err := validateBucket(bucket); err != nil {
		return nil, err
	}
	if err := s.bucketExists(bucket); err != nil {
		return nil, fmt.Errorf("failed to list %s/%s: %w", bucket, prefix, err)
	}
	bucketDir := filepath.Join(s.root, bucket)
	// Walk only the deepest directory the prefix names completely.
	start := bucketDir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(bucketDir, filepath.FromSlash(path.Clean(prefix[:i])))
		if !strings.HasPrefix(start, bucketDir) {
			return nil, fmt.Errorf("failed to list %s/%s: %w", bucket, prefix, errInvalidKey)
		}
	}
	var out []objstore.ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return ctx.Err()
		}
		rel, err := filepath.Rel(bucketDir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // replaced or removed while walking
			}
			return err
		}
		out = append(out, objstore.ObjectInfo{Bucket: bucket, Key: key, Size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list %s/%s: %w", bucket, prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *Store) bucketExists(bucket string) error {
	fi, err := os.Stat(filepath.Join(s.root, bucket))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("bucket %q does not exist", bucket)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("bucket %q is not a directory", bucket)
	}
	return nil
}

func (s *Store) objectPath(bucket, key string) (string, error) {
	if err := validateBucket(bucket); err != nil {
		return "", err
	}
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, bucket, filepath.FromSlash(key)), nil
}

func mapNotFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return objstore.ErrNotFound
	}
	return err
}

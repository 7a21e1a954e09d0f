package dirstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/flts/flts-e2e/pkg/atomicfile"
	"github.com/flts/flts-e2e/pkg/objstore"
)

// tmpDirName holds in-flight writes. It starts with a dot, which no valid
// bucket name does, so it never shows up as a bucket.
const tmpDirName = ".tmp"

// lockDirName holds the lock files that make a write's compare and rename
// one step against every other writer, in this process or another one on
// the same directory. Like tmpDirName it is no bucket, so List never sees
// a lock file.
const lockDirName = ".locks"

// lockStripes is how many lock files keys share (by hash of bucket and
// key): a fixed handful of files, where a file per key would double the
// files of a store of many objects. Two keys of one stripe only wait for
// each other's rename.
const lockStripes = 64

// Store is a directory-backed objstore.Store. It is safe for concurrent use;
// concurrent Puts to one key leave exactly one of the written bodies.
// Writes to a key hold its lock file (flock) across the compare and the
// rename, so PutIfVersion is a compare-and-swap against writers in other
// processes too, and a plain Put cannot slip in between.
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
	for _, sub := range []string{tmpDirName, lockDirName} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("failed to create dirstore at %s: %w", dir, err)
		}
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

// Put stores body under bucket/key atomically (temp file, fsync, rename),
// creating the bucket when missing (see objstore.Store).
func (s *Store) Put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	return s.put(ctx, bucket, key, body, false, "")
}

// PutIfVersion stores body as Put does if the object's version (the hex
// SHA-256 of its content, as GetVersioned returns it) is version, or if
// the object is absent and version is objstore.VersionAbsent; otherwise it
// writes nothing and the error wraps objstore.ErrVersionMismatch.
func (s *Store) PutIfVersion(ctx context.Context, bucket, key string, body []byte, contentType, version string) error {
	return s.put(ctx, bucket, key, body, true, version)
}

// put writes body under the key's lock; when conditional, only if the
// object is at version, read under the same lock.
func (s *Store) put(ctx context.Context, bucket, key string, body []byte, conditional bool, version string) error {
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
	unlock, err := s.lock(bucket, key)
	if err != nil {
		return fmt.Errorf("failed to put %s/%s: %w", bucket, key, err)
	}
	defer unlock()
	if conditional {
		current, err := fileVersion(dst)
		if err != nil {
			return fmt.Errorf("failed to put %s/%s: %w", bucket, key, err)
		}
		if current != version {
			return fmt.Errorf("failed to put %s/%s: %w: expected %s, found %s",
				bucket, key, objstore.ErrVersionMismatch, describeVersion(version), describeVersion(current))
		}
	}
	if err := atomicfile.WriteVia(filepath.Join(s.root, tmpDirName), dst, body, 0o644); err != nil {
		return fmt.Errorf("failed to put %s/%s: %w", bucket, key, err)
	}
	s.logger.Debug("put object", "bucket", bucket, "key", key, "size", len(body), "conditional", conditional)
	return nil
}

// lock holds the lock file of bucket/key's stripe until the returned
// function is called. flock locks belong to the open file, not the
// process, so two goroutines of one process exclude each other as two
// processes do. It does not heed ctx: a holder only compares and renames.
func (s *Store) lock(bucket, key string) (unlock func(), err error) {
	h := fnv.New32a()
	h.Write([]byte(bucket + "/" + key))
	name := filepath.Join(s.root, lockDirName, fmt.Sprintf("%02d.lock", h.Sum32()%lockStripes))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock %s: %w", name, err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}

// fileVersion is the version of the object stored at p, or
// objstore.VersionAbsent when there is none.
func fileVersion(p string) (string, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return objstore.VersionAbsent, nil
	}
	if err != nil {
		return "", err
	}
	return contentVersion(b), nil
}

// contentVersion is an object's version: the hex SHA-256 of its content,
// which a reader can compute from the very bytes it read.
func contentVersion(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func describeVersion(v string) string {
	if v == objstore.VersionAbsent {
		return "no object"
	}
	return "version " + v
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

// GetVersioned returns the object's body and its version (the hex SHA-256
// of that body); a missing object or bucket wraps objstore.ErrNotFound.
// No lock is needed: a rename swaps the whole file, so one read sees one body.
func (s *Store) GetVersioned(ctx context.Context, bucket, key string) ([]byte, string, error) {
	b, err := s.Get(ctx, bucket, key)
	if err != nil {
		return nil, "", err
	}
	return b, contentVersion(b), nil
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

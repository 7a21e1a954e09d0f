package nodeimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CacheKeyLabel is the image label holding the content key.
const CacheKeyLabel = "flts.cache-key"

// keyBuilder hashes named inputs in a fixed order so equal inputs give an
// equal key whatever order they were added in.
type keyBuilder struct {
	parts map[string][]byte
}

func newKey() *keyBuilder { return &keyBuilder{parts: map[string][]byte{}} }

func (k *keyBuilder) add(name string, value string) { k.parts[name] = []byte(value) }

// addFiles adds every regular file under dir (recursively), keyed by its
// path relative to dir and its mode, so a renamed or chmod-ed file counts.
func (k *keyBuilder) addFiles(prefix, dir string, keep func(rel string) bool) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if keep != nil && !keep(rel) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("failed to read %s for the cache key: %w", path, err)
		}
		k.parts[prefix+"/"+rel+"@"+execBit(info.Mode())] = data
		return nil
	})
}

// execBit is the only part of a file mode that counts, as in git: the rest
// follows the umask of whoever checked the files out.
func execBit(m fs.FileMode) string {
	if m&0o111 != 0 {
		return "x"
	}
	return "-"
}

func (k *keyBuilder) sum() string {
	names := make([]string, 0, len(k.parts))
	for n := range k.parts {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(k.parts[n]))
		h.Write(k.parts[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// sourceFile reports whether rel is a builder source (not a test).
func sourceFile(rel string) bool {
	return strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go")
}

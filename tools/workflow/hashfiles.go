package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// HashFiles is GitHub's hashFiles(): the SHA-256 of the SHA-256s of the
// files under root matching any pattern (** crosses directories), in path
// order; "" when nothing matches.
func HashFiles(root string, patterns []string) (string, error) {
	var res []*regexp.Regexp
	for _, p := range patterns {
		re, err := globRegexp(p)
		if err != nil {
			return "", err
		}
		res = append(res, re)
	}
	var matched []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, re := range res {
			if re.MatchString(rel) {
				matched = append(matched, path)
				break
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashFiles: %w", err)
	}
	if len(matched) == 0 {
		return "", nil
	}
	all := sha256.New()
	for _, path := range matched { // WalkDir visits in lexical order
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("hashFiles: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hashFiles: %w", err)
		}
		all.Write(h.Sum(nil))
	}
	return hex.EncodeToString(all.Sum(nil)), nil
}

// globRegexp turns a glob (*, ?, **) into an anchored regexp over
// slash-separated relative paths.
func globRegexp(glob string) (*regexp.Regexp, error) {
	glob = strings.TrimPrefix(glob, "./")
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("hashFiles: bad pattern %q: %w", glob, err)
	}
	return re, nil
}

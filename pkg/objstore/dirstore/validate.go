package dirstore

import (
	"errors"
	"fmt"
	"strings"
)

var errInvalidKey = errors.New("invalid object key")

// ValidateKey rejects keys that cannot map safely to a file below the
// bucket directory: empty keys, absolute paths, "." or ".." segments, empty
// segments ("a//b", trailing "/"), backslashes and NUL bytes.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", errInvalidKey)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: absolute paths are not allowed", errInvalidKey, key)
	}
	if strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("%w %q: backslash or NUL byte", errInvalidKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w %q: empty path segment", errInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w %q: %q segments are not allowed", errInvalidKey, key, seg)
		}
	}
	return nil
}

// validateBucket accepts S3-style bucket names: 3-63 characters of lower-case
// letters, digits, '-' and '.', starting and ending with a letter or digit.
func validateBucket(bucket string) error {
	if len(bucket) < 3 || len(bucket) > 63 {
		return fmt.Errorf("invalid bucket name %q: must be 3-63 characters", bucket)
	}
	for i, r := range bucket {
		alnum := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if !alnum && r != '-' && r != '.' {
			return fmt.Errorf("invalid bucket name %q: only a-z, 0-9, '-' and '.' are allowed", bucket)
		}
		if !alnum && (i == 0 || i == len(bucket)-1) {
			return fmt.Errorf("invalid bucket name %q: must start and end with a letter or digit", bucket)
		}
	}
	if strings.Contains(bucket, "..") {
		return fmt.Errorf("invalid bucket name %q: consecutive dots", bucket)
	}
	return nil
}

package objstore

import (
	"context"
	"fmt"
)

// EnsureBuckets creates every bucket in buckets (idempotent), stopping at the
// first failure.
func EnsureBuckets(ctx context.Context, s Store, buckets ...string) error {
	for _, b := range buckets {
		if err := s.EnsureBucket(ctx, b); err != nil {
			return fmt.Errorf("failed to ensure bucket %q: %w", b, err)
		}
	}
	return nil
}

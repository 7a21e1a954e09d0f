package tracking

import (
	"fmt"
	"path"
	"strings"
)

// SplitS3URI splits "s3://bucket/prefix" into bucket and prefix.
func SplitS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("unsupported artifact URI %q: want s3://bucket/prefix", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if bucket == "" || prefix == "" {
		return "", "", fmt.Errorf("invalid artifact URI %q: want s3://bucket/prefix", uri)
	}
	return bucket, prefix, nil
}

// ArtifactLocation returns where the artifact relPath of run lives in the
// object store (bucket and key), so trainers upload and readers download it
// with the object store directly, as MLflow's S3 artifact repository does.
// relPath must stay inside the run's artifact root.
func ArtifactLocation(run Run, relPath string) (bucket, key string, err error) {
	bucket, prefix, err := SplitS3URI(run.Info.ArtifactURI)
	if err != nil {
		return "", "", fmt.Errorf("failed to locate artifact %q of run %s: %w", relPath, run.Info.RunID, err)
	}
	clean := path.Clean("/" + relPath)[1:]
	if relPath == "" || clean == "" || strings.HasPrefix(relPath, "/") || clean != strings.TrimSuffix(relPath, "/") {
		return "", "", fmt.Errorf("failed to locate artifact of run %s: invalid relative path %q", run.Info.RunID, relPath)
	}
	return bucket, prefix + "/" + clean, nil
}

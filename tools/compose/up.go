package compose

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Up starts the stack and returns once a model is promoted and the
// inference service answers on the stack's network, logging the services'
// states at least every progress.Interval meanwhile. A project that still
// has containers is refused (Down first): Up always starts from nothing,
// so what it measures is a fresh pipeline run. On failure the stack is
// left as it is for inspection, and its logs are saved under
// Artifacts/compose.
func (s *Stack) Up(ctx context.Context) (err error) {
	start := time.Now()
	refs, err := s.opts.CheckImages(ctx, Images...)
	if err != nil {
		return fmt.Errorf("compose up needs the suite's images: %w", err)
	}
	left, err := s.leftovers(ctx)
	if err != nil {
		return err
	}
	if len(left.containers) > 0 {
		return fmt.Errorf("project %s already has containers (%s): run `make compose-down` first",
			Project, strings.Join(left.containers, ", "))
	}
	if err := s.extractProbe(ctx, refs[slices.Index(Images, probeImage)]); err != nil {
		return err
	}
	creds, err := newCredentials()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.saveDiagnostics(ctx, "up"))
		}
	}()
	s.log.Info("compose up: starting the stack", "project", Project, "tag", s.opts.Tag, "wait_timeout", s.opts.UpTimeout)
	stopWatch := s.watch(ctx, start)
	// --wait: every service healthy (inference's health check is /ready,
	// true once a promoted model is loaded) and preprocess exited 0.
	up := s.compose(creds, "up", "--detach", "--wait", "--wait-timeout", strconv.Itoa(int(s.opts.UpTimeout.Seconds())),
		"--pull", "never", "--no-build")
	up.Stderr = s.opts.Output
	err = s.run.Run(ctx, up)
	stopWatch()
	if err != nil {
		return fmt.Errorf("stack %s did not become healthy (logs: %s; the stack is left for inspection, `make compose-down` removes it): %w",
			Project, s.diagnosticsPath("up"), err)
	}
	// Belt and braces, and the figures for the log: the promotion eval
	// serves (eval promotes once every model of the data version is in,
	// so the trainers are idle from here on, as before the suite's load
	// levels), and a prediction through the service name, as the load
	// generator will send it.
	promo, err := s.run.Output(ctx, s.compose(nil, "exec", "--no-tty", "eval",
		"/flts-probe", "check", "--url", "http://127.0.0.1:8080/promotion", "--requests", "1"))
	if err != nil {
		return fmt.Errorf("no promotion served by eval after the stack turned healthy: %w", err)
	}
	pred, err := s.run.Output(ctx, s.loadgen("check", "--url", inferenceURL+"/predict", "--requests", "3"))
	if err != nil {
		return fmt.Errorf("inference did not answer /predict on the stack's network: %w", err)
	}
	s.log.Info("compose up: model promoted and inference serving", "elapsed", time.Since(start).Round(time.Second),
		"promotion", oneLine(promo), "predict", oneLine(pred))
	return nil
}

// newCredentials returns the object store's access and secret keys, made
// as the chart's Secret makes them ("flts" and 12 lowercase characters; 40
// characters), fresh for every stack.
func newCredentials() ([]string, error) {
	a, b := rand.Text(), rand.Text()+rand.Text()
	if len(a) < 12 || len(b) < 40 {
		return nil, errors.New("failed to generate object-store credentials: crypto/rand text too short")
	}
	return []string{"flts" + strings.ToLower(a[:12]), b[:40]}, nil
}

// extractProbe copies the load generator's binary out of its image to the
// path compose.yaml mounts into every service as its health check: the
// images are FROM scratch and have nothing else that speaks HTTP. The
// container made for the copy is never started, carries the project's
// label (so Down would find it after a crash) and is removed at once.
func (s *Stack) extractProbe(ctx context.Context, ref string) error {
	out, err := s.run.Output(ctx, s.docker("create", "--label", ProjectLabel+"="+Project, ref))
	if err != nil {
		return fmt.Errorf("failed to create a container of %s to copy the probe from: %w", ref, err)
	}
	id := strings.TrimSpace(out)
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnosticsTimeout)
		defer cancel()
		if rerr := s.run.Run(rctx, s.docker("rm", "--force", id)); rerr != nil {
			s.log.Warn("failed to remove the probe's source container; `make compose-down` removes it", "id", id, "error", rerr)
		}
	}()
	if err := os.MkdirAll(filepath.Dir(s.probe), 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", filepath.Dir(s.probe), err)
	}
	part := s.probe + ".part"
	if err := s.run.Run(ctx, s.docker("cp", id+":/"+probeImage, part)); err != nil {
		return fmt.Errorf("failed to copy the probe out of %s: %w", ref, err)
	}
	// Readable and executable by the services' user (65532).
	if err := os.Chmod(part, 0o755); err != nil {
		return fmt.Errorf("failed to make the probe executable: %w", err)
	}
	if err := os.Rename(part, s.probe); err != nil {
		return fmt.Errorf("failed to install the probe: %w", err)
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// oneLine folds a check's output (a pretty-printed JSON snippet) into one
// line for the log.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

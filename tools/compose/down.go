package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// leftovers are the Docker objects carrying the project's label.
type leftovers struct {
	containers, networks, volumes []string
}

func (l leftovers) empty() bool {
	return len(l.containers)+len(l.networks)+len(l.volumes) == 0
}

func (l leftovers) String() string {
	var parts []string
	for _, k := range []struct {
		kind  string
		names []string
	}{{"containers", l.containers}, {"networks", l.networks}, {"volumes", l.volumes}} {
		if len(k.names) > 0 {
			parts = append(parts, k.kind+" "+strings.Join(k.names, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// Down removes everything the project made: its containers (the load
// generator's included: its profile is enabled here), its network and its
// volumes, and the probe binary Up extracted. It works on whatever a
// failed or interrupted Up left, and on nothing at all. It then checks
// that no container, network or volume carries the project's label, so a
// second engine user (a kind cluster beside it) is never touched and
// nothing of the baseline is left behind.
func (s *Stack) Down(ctx context.Context) error {
	down := s.compose(nil, "--profile", loadProfile, "down", "--volumes", "--remove-orphans",
		"--timeout", strconv.Itoa(int(downTimeout.Seconds())))
	down.Stderr = s.opts.Output
	if err := s.run.Run(ctx, down); err != nil {
		return fmt.Errorf("failed to remove stack %s: %w", Project, err)
	}
	if err := os.Remove(s.probe); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to remove the probe binary: %w", err)
	}
	left, err := s.leftovers(ctx)
	if err != nil {
		return err
	}
	if !left.empty() {
		return fmt.Errorf("stack %s removed, but objects labelled %s=%s are left: %s", Project, ProjectLabel, Project, left)
	}
	s.log.Info("compose down: nothing of the project is left", "project", Project, "label", ProjectLabel+"="+Project)
	return nil
}

// leftovers lists the containers, networks and volumes with the project's
// label.
func (s *Stack) leftovers(ctx context.Context) (leftovers, error) {
	var l leftovers
	var err error
	if l.containers, err = s.labelled(ctx, "ps", "--all", "--format", "{{.Names}}"); err != nil {
		return l, err
	}
	if l.networks, err = s.labelled(ctx, "network", "ls", "--format", "{{.Name}}"); err != nil {
		return l, err
	}
	if l.volumes, err = s.labelled(ctx, "volume", "ls", "--format", "{{.Name}}"); err != nil {
		return l, err
	}
	return l, nil
}

// labelled runs a docker listing filtered on the project's label and
// returns its non-empty lines.
func (s *Stack) labelled(ctx context.Context, args ...string) ([]string, error) {
	out, err := s.run.Output(ctx, s.docker(append(args, "--filter", "label="+ProjectLabel+"="+Project)...))
	if err != nil {
		return nil, fmt.Errorf("failed to list the objects of project %s: %w", Project, err)
	}
	return strings.Fields(out), nil
}

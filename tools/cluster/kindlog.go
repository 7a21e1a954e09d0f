package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	kindlog "sigs.k8s.io/kind/pkg/log"
)

// kindLogger adapts kind's logger to slog: kind's user-facing V(0) messages
// become info, everything chattier becomes debug.
type kindLogger struct{ log *slog.Logger }

func (k kindLogger) Warn(m string)                        { k.log.Warn(strings.TrimSpace(m)) }
func (k kindLogger) Warnf(f string, a ...interface{})     { k.log.Warn(fmt.Sprintf(f, a...)) }
func (k kindLogger) Error(m string)                       { k.log.Error(m) }
func (k kindLogger) Errorf(f string, a ...interface{})    { k.log.Error(fmt.Sprintf(f, a...)) }
func (k kindLogger) V(l kindlog.Level) kindlog.InfoLogger { return kindInfo{log: k.log, level: l} }

type kindInfo struct {
	log   *slog.Logger
	level kindlog.Level
}

func (k kindInfo) slogLevel() slog.Level {
	if k.level <= 0 {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func (k kindInfo) Info(m string) {
	k.log.Log(context.Background(), k.slogLevel(), "kind: "+strings.TrimSpace(m))
}
func (k kindInfo) Infof(f string, a ...interface{}) {
	k.Info(fmt.Sprintf(f, a...))
}
func (k kindInfo) Enabled() bool { return k.log.Enabled(context.Background(), k.slogLevel()) }

package config

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Env reads configuration from environment variables, strictly: an unset
// or empty variable gives the default; a set one that does not parse is an
// error naming the variable and the forms it accepts (FLTS_S3_SECURE=yes
// is an error, not plaintext). Errors accumulate, so a user sees every bad
// variable in one run. Every image, CLI and the suite read their
// environment through it.
type Env struct {
	lookup Getenv
	errs   []error
}

// NewEnv reads through lookup; nil means the process environment.
func NewEnv(lookup Getenv) *Env {
	if lookup == nil {
		lookup = OSGetenv
	}
	return &Env{lookup: lookup}
}

func (e *Env) raw(key string) (string, bool) {
	v, ok := e.lookup(key)
	return v, ok && v != ""
}

// String returns key's value, or def when unset or empty.
func (e *Env) String(key, def string) string {
	if v, ok := e.raw(key); ok {
		return v
	}
	return def
}

// Bool returns key's value as a boolean (true, false, 1, 0 and their
// case variants strconv accepts), or def when unset or empty.
func (e *Env) Bool(key string, def bool) bool {
	v, ok := e.raw(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a boolean: use true or false (1 or 0)", key, v))
		return def
	}
	return b
}

// Int returns key's value as a decimal integer, or def when unset or empty.
func (e *Env) Int(key string, def int) int {
	v, ok := e.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a decimal integer", key, v))
		return def
	}
	return n
}

// Duration returns key's value as a Go duration ("90s", "2m"), or def
// when unset or empty.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v, ok := e.raw(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a duration like 90s or 2m", key, v))
		return def
	}
	return d
}

// Err returns every invalid variable read so far, nil when all parsed.
func (e *Env) Err() error { return errors.Join(e.errs...) }

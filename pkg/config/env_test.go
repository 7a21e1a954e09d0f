package config

import (
	"strings"
	"testing"
	"time"
)

func TestEnvDefaultsAndValues(t *testing.T) {
	e := NewEnv(MapEnv(map[string]string{"S": "x", "B": "1", "I": "42", "D": "90s", "EMPTY": ""}))
	if got := e.String("S", "d"); got != "x" {
		t.Errorf("String = %q", got)
	}
	if got := e.String("EMPTY", "d"); got != "d" {
		t.Errorf("empty String = %q, want the default", got)
	}
	if !e.Bool("B", false) || e.Bool("UNSET", false) {
		t.Error("Bool")
	}
	if got := e.Int("I", 0); got != 42 {
		t.Errorf("Int = %d", got)
	}
	if got := e.Duration("D", 0); got != 90*time.Second {
		t.Errorf("Duration = %s", got)
	}
	if err := e.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}

// A set but invalid value is an error naming the variable and the forms
// it accepts, and every bad variable is reported at once.
func TestEnvRejectsInvalidValues(t *testing.T) {
	e := NewEnv(MapEnv(map[string]string{"FLTS_S3_SECURE": "yes", "N": "ten", "T": "soon"}))
	if e.Bool("FLTS_S3_SECURE", false) {
		t.Error("an invalid boolean must not read as true")
	}
	e.Int("N", 1)
	e.Duration("T", time.Second)
	err := e.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{`FLTS_S3_SECURE="yes" is not a boolean: use true or false`, `N="ten" is not a decimal integer`, `T="soon" is not a duration`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

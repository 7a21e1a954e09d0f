package httpjson

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, http.StatusTooManyRequests, map[string]string{"error": "busy"})
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	if got := rec.Body.String(); got != "{\"error\":\"busy\"}\n" {
		t.Errorf("body %q", got)
	}
}

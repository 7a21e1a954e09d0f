// Package httpjson writes the JSON responses of the pipeline's HTTP
// servers (inference, tracking, the eval image's health endpoint): one
// place that sets the content type before the status.
package httpjson

import (
	"context"
	"encoding/json"
	"net/http"
)

// Write sends v as the JSON body of a status response. An encoding error
// cannot be reported once the status is sent; values written here are
// plain maps and structs that always encode.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Ready is a component's /ready: 200 while check passes, 503 naming the
// cause while it fails (a dependency down: the component retries its work
// meanwhile and says so to the kubelet and the user).
func Ready(check func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := check(r.Context()); err != nil {
			Write(w, http.StatusServiceUnavailable, map[string]string{"status": "ERROR", "error": err.Error()})
			return
		}
		Write(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

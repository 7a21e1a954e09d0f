// Package httpjson writes the JSON responses of the pipeline's HTTP
// servers (inference, tracking, the eval image's health endpoint): one
// place that sets the content type before the status.
package httpjson

import (
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

// Package config holds the flags every pipeline binary shares (object
// store, event bus, tracking server, log level), each with an environment
// default, and their validation.
package config

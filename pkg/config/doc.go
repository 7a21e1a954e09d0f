// Package config holds the flags every pipeline binary shares (object
// store, event bus, tracking server, log level), each with an environment
// default, their validation, and Command, the main() skeleton (exit codes,
// logger, signals) the images share.
package config

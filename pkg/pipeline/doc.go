// Package pipeline holds the logic of the pipeline's stages (preprocess,
// train, evaluate and promote) as functions over narrow interfaces of the
// object store, the event bus and the tracking server, so the same code
// runs in the cluster's binaries, in the local run and in unit tests.
package pipeline

// Package compose runs the Docker Compose baseline: the pipeline of the
// kind suite on a Docker engine without Kubernetes
// (fixtures/compose/compose.yaml, the same images, one inference container,
// no autoscaler), so a load level can be compared with the suite's.
//
// Stack.Up starts it and waits until a model is promoted and inference
// answers, Stack.Load runs one load level from loadgen containers on the
// stack's network (the suite's users, workers, think times and ramp-up;
// results merged by pkg/loadgen as the suite merges them) and Stack.Down
// removes everything the project made, then checks that nothing carrying
// its label is left. Every command goes through an execx.Runner: the
// Compose CLI built from its Go module (make's $(BIN)/docker-compose) and
// the docker CLI.
package compose

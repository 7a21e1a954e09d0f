// Package imagebuild builds the project's container images, one folder per
// image under images/, all the same way: a static Go binary compiled on the
// host (no base image can be pulled on an offline machine) copied into a
// FROM-scratch Dockerfile that sits next to the code.
//
// An image folder holds a Dockerfile and one of:
//   - main.go: a main package of this module, built with `go build`;
//   - module.txt: one line `<package>@<version>` of a third-party server
//     (NATS, MinIO), built with `go install` from the Go
//     module proxy at exactly that version.
//
// Other files in the folder (a server's configuration) are copied into the
// build context beside the binary.
//
// Every image carries the label flts.cache-key, a digest of its build
// context; an unchanged image is not rebuilt.
package imagebuild

// Package e2e is the FLTS end-to-end suite: it brings up a kind cluster
// built offline from source, builds and loads the pipeline images, installs
// the Helm chart and proves the validation checklist area by area.
//
// Every area is a Describe with a Label of its name, and each passes on its
// own: `ginkgo --focus=HPA ./e2e` runs the whole set-up and that area only.
package e2e

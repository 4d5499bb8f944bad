// Package charttest renders the spillway Helm chart (deploy/helm/spillway)
// with Helm's Go library and checks what it renders: every object decodes
// strictly into the Kubernetes API types, spillway accepts the gateway
// config, and Envoy accepts the bootstrap spillway generates for the pod.
//
// It is a module of its own so that Helm and the Kubernetes API types stay
// out of spillway's dependencies; run it with `make helm-test`.
package charttest

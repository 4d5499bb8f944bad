// Package extproc is spillway's Envoy external-processing server. It serves
// two filters through one gRPC service:
//
//   - the router phase (a downstream HTTP filter, once per client request)
//     authenticates the client, parses the request, answers bad requests
//     itself, names the model so Envoy's route picks the model's cluster,
//     and reads token usage from the final response;
//   - the upstream phase (an upstream HTTP filter, once per attempt) learns
//     which backend Envoy picked for this attempt, rewrites the request for
//     it (path, api-version, api-key) and observes the attempt's response.
//
// The two phases share nothing per request: everything the upstream phase
// needs is in the endpoint's metadata and the request's headers.
package extproc

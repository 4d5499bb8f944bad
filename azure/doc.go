// Package azure holds what spillway knows about Azure OpenAI's wire format:
// the JSON error shape clients expect and the well-known error bodies.
// Both the gateway and the simulator answer with these, so a client sees the
// same shapes whether Azure, the simulator or spillway itself produced them.
package azure

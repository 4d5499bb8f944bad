package extproc

import (
	"errors"
	"log/slog"
)

// BackendTokens hands out the bearer token of a backend that authenticates
// with Microsoft Entra ID (package entra's Pool implements it).
type BackendTokens interface {
	// Token returns backend's current token; false when it has no valid one.
	Token(backend string) (string, bool)
}

// errNoAuthenticatedBackend: every backend of the model is out of routing
// because no valid credential is held for it.
var errNoAuthenticatedBackend = errors.New("no backend of the model holds a valid credential")

// routable returns the model's backends the Healthy predicate lets through,
// as capacity candidates (names) and in static order. With no predicate
// every backend is routable.
func (s *Server) routable(m *Model) ([]string, []*Backend, error) {
	if s.healthy == nil {
		return m.names, m.Order, nil
	}
	out := 0
	for _, b := range m.Order {
		if !s.healthy(b.Name) {
			out++
		}
	}
	if out == 0 {
		return m.names, m.Order, nil
	}
	if out == len(m.Order) {
		return nil, nil, errNoAuthenticatedBackend
	}
	names := make([]string, 0, len(m.Order)-out)
	order := make([]*Backend, 0, len(m.Order)-out)
	for _, b := range m.Order {
		if s.healthy(b.Name) {
			names = append(names, b.Name)
			order = append(order, b)
		}
	}
	return names, order, nil
}

// setCredential gives an attempt its backend's credential: the Entra ID
// bearer token, or the api-key. The client's own credentials were removed.
func (p *upstreamPhase) setCredential(m *mutation, b *Backend) {
	if !b.entra {
		if b.apiKey != "" {
			m.set("api-key", b.apiKey)
		}
		return
	}
	var tok string
	ok := false
	if p.s.tokens != nil {
		tok, ok = p.s.tokens.Token(b.Name)
	}
	if !ok {
		// The backend left routing when its token went; an attempt already
		// planned can still arrive here. It goes without a credential and
		// the backend's 401 reaches the client.
		p.s.log.Error("attempt to an Entra ID backend without a valid token", slog.String("request_id", p.attempt.RequestID), slog.String("backend", b.Name))
		return
	}
	m.set("authorization", "Bearer "+tok)
}

package extproc

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/jwtauth"
)

// TokenVerifier validates a client's Entra ID access token.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*jwtauth.Claims, error)
}

// entraConsumer is a consumer identified by token claims.
type entraConsumer struct {
	name string
	id   config.ConsumerEntra
}

func (c entraConsumer) matches(cl *jwtauth.Claims) bool {
	return (c.id.AppID == "" || c.id.AppID == cl.AppID) &&
		(c.id.ObjectID == "" || c.id.ObjectID == cl.ObjectID) &&
		(c.id.Role == "" || slices.Contains(cl.Roles, c.id.Role))
}

// SetTokenVerifier makes t accept Entra ID tokens checked by v, for the
// consumers that map one (config client_auth.entra). Call before the table
// is in use.
func (t *Table) SetTokenVerifier(v TokenVerifier, audience string) {
	t.verifier, t.audience = v, audience
}

// identify finds the consumer a request comes from: by api-key, by a Bearer
// key (as OpenAI SDKs send one), or by a Bearer Entra ID token when client
// tokens are accepted. nil reply: identified.
func (p *routerPhase) identify(ctx context.Context, h headers) (string, *extprocsvc.ProcessingResponse) {
	t := p.t
	if h.get("api-key") == "" && t.verifier != nil {
		if raw, ok := strings.CutPrefix(h.get("authorization"), "Bearer "); ok && jwtauth.LooksLikeJWT(strings.TrimSpace(raw)) {
			return p.identifyToken(ctx, strings.TrimSpace(raw))
		}
	}
	consumer, ok := t.consumer(clientKey(h))
	if !ok {
		return "", p.reject(azure.Unauthorized())
	}
	return consumer, nil
}

func (p *routerPhase) identifyToken(ctx context.Context, raw string) (string, *extprocsvc.ProcessingResponse) {
	claims, err := p.t.verifier.Verify(ctx, raw)
	if err != nil {
		var e *jwtauth.Error
		reason := "the token is invalid"
		if errors.As(err, &e) {
			reason = e.Reason
			if e.Insufficient {
				p.s.log.Info("client token refused", slog.String("request_id", p.req.ID), slog.String("reason", reason))
				return "", p.reject(azure.PermissionDenied(), [2]string{"www-authenticate", azure.BearerChallenge("insufficient_scope", reason)})
			}
		}
		p.s.log.Info("client token refused", slog.String("request_id", p.req.ID), slog.String("reason", reason))
		return "", p.reject(azure.InvalidToken(p.t.audience), [2]string{"www-authenticate", azure.BearerChallenge("invalid_token", reason)})
	}
	for _, c := range p.t.entraConsumers {
		if c.matches(claims) {
			p.claims = claims
			return c.name, nil
		}
	}
	p.s.log.Info("client token maps to no consumer", slog.String("request_id", p.req.ID), slog.String("appid", claims.AppID), slog.String("oid", claims.ObjectID))
	return "", p.reject(azure.PermissionDenied(), [2]string{"www-authenticate", azure.BearerChallenge("insufficient_scope", "the token's application maps to no consumer of this gateway")})
}

package sim

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spillway-gw/spillway/azure"
	"github.com/spillway-gw/spillway/jwtauth"
)

// DefaultEntraAudience is the audience of Azure OpenAI tokens.
const DefaultEntraAudience = "https://cognitiveservices.azure.com"

// Entra is how the simulator checks Microsoft Entra ID bearer tokens, as an
// Azure OpenAI resource does: signed by the issuer's keys, for its audience,
// not expired.
type Entra struct {
	// Issuer is the accepted iss claim.
	Issuer string `yaml:"issuer"`
	// JWKSURL is where the issuer's signing keys are fetched.
	JWKSURL string `yaml:"jwks_url"`
	// Audience is the accepted aud claim; default https://cognitiveservices.azure.com.
	Audience string `yaml:"audience"`
}

func (e *Entra) validate() []error {
	if e == nil {
		return nil
	}
	var errs []error
	if u, err := url.Parse(e.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, errors.New("entra.issuer: must be an https URL"))
	}
	if u, err := url.Parse(e.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, errors.New("entra.jwks_url: must be an https URL"))
	}
	return errs
}

// entraVerifier builds the token check; nil when tokens are not accepted.
func entraVerifier(e *Entra, client *http.Client) *jwtauth.Verifier {
	if e == nil {
		return nil
	}
	ks := jwtauth.NewKeySet(e.JWKSURL, client, nil)
	ks.MinRefetch = time.Second
	// No leeway: the simulator is as strict as the gateway must be.
	return jwtauth.NewVerifier(jwtauth.Policy{Issuers: []string{e.Issuer}, Audiences: []string{e.Audience}}, ks, nil)
}

// authError is why a request was refused, written as Azure writes it.
type authError struct {
	e         *azure.Error
	challenge string // WWW-Authenticate, for refused tokens
}

func (a *authError) write(w http.ResponseWriter) {
	if a.challenge != "" {
		w.Header().Set("WWW-Authenticate", a.challenge)
	}
	a.e.Write(w)
}

// authorize checks a request's key or token for deployment d (nil on the v1
// routes before the body names it). nil: allowed.
func (s *Server) authorize(ctx context.Context, r *http.Request, d *deployment) *authError {
	bearer := ""
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		bearer = strings.TrimSpace(a[7:])
	}
	if s.entra != nil && r.Header.Get("Api-Key") == "" && jwtauth.LooksLikeJWT(bearer) {
		if _, err := s.entra.Verify(ctx, bearer); err != nil {
			reason := "the token is invalid"
			var je *jwtauth.Error
			if errors.As(err, &je) {
				reason = je.Reason
			}
			return &authError{e: azure.InvalidToken(s.cfg.Entra.Audience), challenge: azure.BearerChallenge("invalid_token", reason)}
		}
		return nil
	}
	if d != nil && d.cfg.DisableLocalAuth {
		return &authError{e: &azure.Error{Status: http.StatusForbidden, Code: "AuthenticationTypeDisabled",
			Message: "Key based authentication is disabled for this resource."}}
	}
	if len(s.keys) == 0 && s.entra == nil {
		return nil
	}
	k := r.Header.Get("Api-Key")
	if k == "" {
		k = bearer
	}
	if _, ok := s.keys[k]; ok && k != "" {
		return nil
	}
	return &authError{e: azure.Unauthorized()}
}

// echoClientRequestID returns the client's x-ms-client-request-id on a
// response refused before a call is set up, as Azure does on every response.
func echoClientRequestID(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get("X-Ms-Client-Request-Id"); v != "" {
		w.Header().Set("X-Ms-Client-Request-Id", v)
	}
}

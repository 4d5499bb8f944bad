package azure

import (
	"fmt"
	"net/http"
	"strings"
)

// InvalidToken is Azure's 401 for a bearer token that is missing, invalid,
// for another audience or expired. audience is the audience expected.
func InvalidToken(audience string) *Error {
	return &Error{
		Status:  http.StatusUnauthorized,
		Code:    "401",
		Message: fmt.Sprintf("Access token is missing, invalid, audience is incorrect (%s), or have expired.", audience),
	}
}

// PermissionDenied is Azure's 401 for a valid token whose principal may not
// call the operation (no role, no consumer mapping).
func PermissionDenied() *Error {
	return &Error{
		Status:  http.StatusUnauthorized,
		Code:    "PermissionDenied",
		Message: "Principal does not have access to API/Operation.",
	}
}

// NoAuthenticatedBackend is the 503 when every backend of a model is out of
// routing because spillway holds no valid credential for it (Entra ID
// token requests failing).
func NoAuthenticatedBackend(model string) *Error {
	return &Error{
		Status: http.StatusServiceUnavailable,
		Code:   "ServiceUnavailable",
		Type:   "server_error",
		Message: fmt.Sprintf("No backend of model %q can be called right now: the gateway holds no valid Microsoft Entra ID token for any of them. "+
			"Retry later.", model),
	}
}

// BearerChallenge is the WWW-Authenticate value for a refused bearer token
// (RFC 6750): error is invalid_token or insufficient_scope.
func BearerChallenge(errorCode, description string) string {
	d := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(description))
	return fmt.Sprintf(`Bearer realm="spillway", error="%s", error_description="%s"`, errorCode, d)
}

package sim

import (
	"net/url"
	"strings"
)

// legacyAPIVersion reports whether v predates 2023-05-15, the first GA
// chat-completions version: those versions signalled throttling with 424.
func legacyAPIVersion(v string) bool {
	return isDate(v) && v[:10] < "2023-05-15"
}

// usageSupported reports whether v accepts stream_options (2024-09-01-preview,
// 2024-10-21 GA and later; non-date versions such as "preview" accept it).
func usageSupported(v string) bool {
	return !isDate(v) || v[:10] >= "2024-09-01"
}

func isDate(v string) bool {
	if len(v) < 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// queryValue returns the first value of key in a raw query, without building a map.
func queryValue(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != key {
			if uk, err := url.QueryUnescape(k); err != nil || uk != key {
				continue
			}
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			return uv
		}
		return v
	}
	return ""
}

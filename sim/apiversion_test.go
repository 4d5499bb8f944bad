package sim

import "testing"

func TestAPIVersionRules(t *testing.T) {
	tests := []struct {
		v               string
		legacy, usageOK bool
	}{
		{"2022-12-01", true, false},
		{"2023-03-15-preview", true, false},
		{"2023-05-15", false, false},
		{"2024-08-01-preview", false, false},
		{"2024-09-01-preview", false, true},
		{"2024-10-21", false, true},
		{"2025-04-01-preview", false, true},
		{"preview", false, true},
		{"", false, true},
		{"2023-0x-01", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			if got := legacyAPIVersion(tt.v); got != tt.legacy {
				t.Errorf("legacy = %v, want %v", got, tt.legacy)
			}
			if got := usageSupported(tt.v); got != tt.usageOK {
				t.Errorf("usageSupported = %v, want %v", got, tt.usageOK)
			}
		})
	}
}

func TestQueryValue(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"api-version=2024-10-21", "2024-10-21"},
		{"a=1&api-version=2024-10-21&b=2", "2024-10-21"},
		{"api%2Dversion=x%20y", "x y"},
		{"api-version", ""},
		{"", ""},
		{"api-version=%zz", "%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := queryValue(tt.raw, "api-version"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

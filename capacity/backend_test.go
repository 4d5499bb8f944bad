package capacity

import (
	"testing"
	"time"
)

func TestBackendSpec(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		s := BackendSpec{Name: "a", Tier: TierTPM, TPM: 8000}.withDefaults()
		if s.TokenWindow != time.Minute || s.RequestWindow != 10*time.Second || s.Weight != 1 || s.RPM != 48 {
			t.Errorf("defaults = %+v", s)
		}
		if got := s.requestLimit(); got != 8 {
			t.Errorf("request limit = %d, want 8 per 10 s", got)
		}
		scaled := BackendSpec{Name: "a", Tier: TierTPM, TPM: 8000, TokenWindow: 6 * time.Second}.withDefaults()
		if scaled.RequestWindow != time.Second || scaled.requestLimit() != 8 {
			t.Errorf("scaled = %+v limit %d", scaled, scaled.requestLimit())
		}
		if got := (BackendSpec{Name: "a", Tier: TierTPM, TPM: 100}).withDefaults().requestLimit(); got != 1 {
			t.Errorf("tiny request limit = %d, want 1", got)
		}
	})
	t.Run("validate", func(t *testing.T) {
		for _, c := range []struct {
			name string
			spec BackendSpec
			want string
		}{
			{"ok tpm", tpm("a", 1, 0), ""},
			{"ok ptu", ptu("p", 1), ""},
			{"no name", BackendSpec{Tier: TierPTU, CapacityTPM: 1}, "name: must not be empty"},
			{"tpm zero", BackendSpec{Name: "a", Tier: TierTPM}, "tpm: must be > 0"},
			{"rpm negative", BackendSpec{Name: "a", Tier: TierTPM, TPM: 1, RPM: -1}, "rpm: must be >= 0 (0: 6 per 1,000 TPM)"},
			{"ptu zero", BackendSpec{Name: "a", Tier: TierPTU}, "capacity_tpm: must be > 0"},
			{"tier", BackendSpec{Name: "a", Tier: "paygo"}, `tier: "paygo" must be ptu or tpm`},
			{"weight", BackendSpec{Name: "a", Tier: TierPTU, CapacityTPM: 1, Weight: -1}, "weight: must be >= 0"},
		} {
			t.Run(c.name, func(t *testing.T) {
				err := c.spec.Validate()
				got := ""
				if err != nil {
					got = err.Error()
				}
				if got != c.want {
					t.Errorf("Validate() = %q, want %q", got, c.want)
				}
			})
		}
	})
}

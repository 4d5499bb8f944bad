package config

import (
	"slices"
	"testing"
)

func TestStaticOrder(t *testing.T) {
	b := func(name string, kind Kind, priority, weight int) Backend {
		return Backend{Name: name, Kind: kind, Priority: priority, Weight: weight}
	}
	tests := []struct {
		name     string
		backends []Backend
		want     []string
	}{
		{
			name:     "ptu first whatever its priority",
			backends: []Backend{b("tpm", TPM, 0, 1), b("ptu", PTU, 9, 1)},
			want:     []string{"ptu", "tpm"},
		},
		{
			name:     "then priority, lower first",
			backends: []Backend{b("p2", TPM, 2, 1), b("p0", TPM, 0, 1), b("p1", TPM, 1, 1)},
			want:     []string{"p0", "p1", "p2"},
		},
		{
			name:     "then weight, higher first",
			backends: []Backend{b("w1", TPM, 1, 1), b("w5", TPM, 1, 5), b("w3", TPM, 1, 3)},
			want:     []string{"w5", "w3", "w1"},
		},
		{
			name:     "priority before weight",
			backends: []Backend{b("heavy-late", TPM, 2, 100), b("light-early", TPM, 1, 1)},
			want:     []string{"light-early", "heavy-late"},
		},
		{
			name:     "ties keep the written order",
			backends: []Backend{b("c", TPM, 1, 2), b("a", TPM, 1, 2), b("b", TPM, 1, 2)},
			want:     []string{"c", "a", "b"},
		},
		{
			name: "several ptus are ordered among themselves, all before tpms",
			backends: []Backend{
				b("tpm-0", TPM, 0, 1), b("ptu-1", PTU, 1, 1), b("tpm-1-heavy", TPM, 1, 9),
				b("ptu-0-light", PTU, 0, 1), b("ptu-0-heavy", PTU, 0, 4), b("tpm-1-light", TPM, 1, 1),
			},
			want: []string{"ptu-0-heavy", "ptu-0-light", "ptu-1", "tpm-0", "tpm-1-heavy", "tpm-1-light"},
		},
		{
			name:     "one backend",
			backends: []Backend{b("only", TPM, 3, 1)},
			want:     []string{"only"},
		},
		{
			name: "no backends",
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Model{Name: "m", Backends: tt.backends}
			before := slices.Clone(m.Backends)
			got := []string{}
			for _, b := range m.StaticOrder() {
				got = append(got, b.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("StaticOrder = %v, want %v", got, tt.want)
			}
			if !slices.Equal(m.Backends, before) {
				t.Errorf("StaticOrder reordered the model's backends: %v", m.Backends)
			}
		})
	}
}

// TestStaticOrderOfTheExample pins the order the demo documents: the PTU,
// then eastus2 (priority 1), then westus3 (priority 2).
func TestStaticOrderOfTheExample(t *testing.T) {
	c, err := Load("../examples/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range c.Model("gpt-4o").StaticOrder() {
		got = append(got, b.Name)
	}
	if want := []string{"ptu-eastus", "tpm-eastus2", "tpm-westus3"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

package plan

import (
	"slices"
	"testing"
)

func TestUnits(t *testing.T) {
	dz, _ := DefaultFacts("gpt-4o", DataZone)
	reg, _ := DefaultFacts("gpt-4o", Regional)
	mini, _ := DefaultFacts("gpt-4o-mini", Regional)
	for _, c := range []struct {
		name string
		f    Facts
		need float64
		want int
	}{
		{"nothing needed", dz, 0, 0},
		{"a little: the minimum", dz, 1, 15},
		{"exactly the minimum", dz, 15, 15},
		{"just above: one increment", dz, 15.01, 20},
		{"Microsoft's example: 105.9 -> 110", dz, 360000.0 / 3400, 110},
		{"regional", reg, 51, 100},
		{"regional mini", mini, 26, 50},
		{"exact multiple", reg, 150, 150},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.f.Units(c.need); got != c.want {
				t.Errorf("Units(%v) with %+v = %d, want %d", c.need, c.f, got, c.want)
			}
		})
	}
	if got, want := dz.Steps(24), []int{0, 15, 20, 25}; !slices.Equal(got, want) {
		t.Errorf("Steps(24) = %v, want %v", got, want)
	}
}

func TestDefaultFacts(t *testing.T) {
	for _, c := range []struct {
		model string
		typ   DeploymentType
		want  Facts
		ok    bool
	}{
		{"gpt-4o", Global, Facts{2500, 4, 15, 5}, true},
		{"gpt-4o", Regional, Facts{2500, 4, 50, 50}, true},
		{"gpt-4.1-nano", Regional, Facts{59400, 4, 25, 25}, true},
		{"gpt-5.2", DataZone, Facts{3400, 8, 15, 5}, true},
		{"gpt-5.4", DataZone, Facts{2400, 6, 15, 5}, true},
		{"my-finetune", DataZone, Facts{}, false},
	} {
		t.Run(c.model+"/"+string(c.typ), func(t *testing.T) {
			got, ok := DefaultFacts(c.model, c.typ)
			if got != c.want || ok != c.ok {
				t.Errorf("DefaultFacts = %+v, %v; want %+v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

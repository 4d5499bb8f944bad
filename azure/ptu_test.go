package azure

import "testing"

func TestPTUFigures(t *testing.T) {
	tests := []struct {
		model, typ string
		want       PTU
		ok         bool
	}{
		{"gpt-4o", "", PTU{2500, 4, 15, 5}, true},
		{"gpt-4o", DeploymentDataZone, PTU{2500, 4, 15, 5}, true},
		{"gpt-4o", DeploymentRegional, PTU{2500, 4, 50, 50}, true},
		{"gpt-4o-mini", DeploymentRegional, PTU{37000, 4, 25, 25}, true},
		{"gpt-5.2", DeploymentGlobal, PTU{3400, 8, 15, 5}, true},
		{"gpt-5.4", DeploymentGlobal, PTU{2400, 6, 15, 5}, true},
		{"my-model", DeploymentGlobal, PTU{}, false},
		{"gpt-4o", "zonal", PTU{}, false},
	}
	for _, tc := range tests {
		got, ok := PTUFigures(tc.model, tc.typ)
		if got != tc.want || ok != tc.ok {
			t.Errorf("PTUFigures(%q, %q) = %+v %v, want %+v %v", tc.model, tc.typ, got, ok, tc.want, tc.ok)
		}
	}
	// The reference's example: 360,000 normalized TPM on gpt-5.2 is 105.9
	// PTU, bought as 110 (data zone, increment 5).
	f, _ := PTUFigures("gpt-5.2", DeploymentDataZone)
	if u := f.Units(360000.0 / float64(f.InputTPMPerPTU)); u != 110 || !f.Purchasable(110) || f.Purchasable(108) || f.Purchasable(10) {
		t.Errorf("Units = %d; Purchasable(110, 108, 10) = %v %v %v", u, f.Purchasable(110), f.Purchasable(108), f.Purchasable(10))
	}
}

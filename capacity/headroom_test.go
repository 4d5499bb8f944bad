package capacity

import (
	"slices"
	"testing"
)

// TestChooseHeadroom: a request with headroom leaves that share of a PTU
// free — for higher-priority requests, which still find it — and spills to
// a TPM backend (or finds no room) before the PTU is full.
func TestChooseHeadroom(t *testing.T) {
	for _, c := range []struct {
		name     string
		used     int // charged to the PTU first
		cost     int
		headroom float64
		want     []string // backends with room, in order
	}{
		{"no headroom: the PTU up to full", 700, 300, 0, []string{"p", "a"}},
		{"headroom 0.2: the PTU while 200 (and 1 %) stay free", 790, 300, 0.2, []string{"p", "a"}},
		{"headroom 0.2: spills before the last 200", 791, 300, 0.2, []string{"a"}},
		{"headroom 0.2: the higher priority still takes it", 791, 300, 0, []string{"p", "a"}},
		{"an empty PTU takes any request, as without headroom", 0, 900, 0.5, []string{"p", "a"}},
		{"headroom never applies to TPM", 600, 900, 0.5, []string{"a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newTestModel(t, Options{}, ptu("p", 1000), tpm("a", 1000, 0))
			if c.used > 0 {
				mustChoose(m, "p", c.used)
			}
			p, ok := m.ChooseFor(Ask{Candidates: []string{"p", "a"}, Cost: c.cost, Headroom: c.headroom})
			if !ok || !slices.Equal(p.Order[:p.Fit], c.want) {
				t.Fatalf("Choose = %v (%d with room), %v; want %v with room", p.Order, p.Fit, ok, c.want)
			}
		})
	}
}

// TestOverflowLeavesHeadroom: a request with headroom overflows to a TPM
// spare, never into a PTU's headroom; without headroom it may overflow
// to the PTU.
func TestOverflowLeavesHeadroom(t *testing.T) {
	for _, c := range []struct {
		name     string
		headroom float64
		cands    []string
		want     []string // order; nil: no room at all
	}{
		{"with headroom: the TPM spare only", 0.2, []string{"p", "a"}, []string{"a"}},
		{"with headroom and PTU only: nowhere", 0.2, []string{"p"}, nil},
		{"without headroom: the PTU is a spare too", 0, []string{"p", "a"}, []string{"p", "a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newTestModel(t, Options{}, ptu("p", 1000), tpm("a", 1000, 0))
			mustChoose(m, "p", 995) // less than 1 % left on each
			mustChoose(m, "a", 995)
			p, ok := m.ChooseFor(Ask{Candidates: c.cands, Cost: 300, Headroom: c.headroom, Overflow: true})
			if ok != (c.want != nil) || ok && (p.Fit != 0 || !slices.Equal(p.Order, c.want)) {
				t.Fatalf("Choose = %v (%d with room), %v; want %v, none with room", p.Order, p.Fit, ok, c.want)
			}
		})
	}
}

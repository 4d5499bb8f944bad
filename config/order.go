package config

import (
	"cmp"
	"slices"
)

// StaticOrder returns the model's backends in the order they are tried when
// nothing else is known about them: PTUs first (already paid for), then by
// priority (lower first), then by weight (higher first), then as written.
func (m *Model) StaticOrder() []Backend {
	out := slices.Clone(m.Backends)
	slices.SortStableFunc(out, func(a, b Backend) int {
		if a.Kind != b.Kind {
			if a.Kind == PTU {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		return cmp.Compare(b.Weight, a.Weight)
	})
	return out
}

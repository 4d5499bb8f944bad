package extproc

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMemoryResponses(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	s := NewMemoryResponses(3, func() time.Time { return now })
	get := func(id string) string {
		t.Helper()
		b, found, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return "-"
		}
		return b
	}
	_ = s.Put(ctx, "resp_1", "ptu", time.Minute)
	_ = s.Put(ctx, "resp_2", "tpm", 10*time.Second)
	if got := get("resp_1") + get("resp_2") + get("resp_x"); got != "ptutpm-" {
		t.Fatalf("got %q", got)
	}
	now = now.Add(10 * time.Second)
	if got := get("resp_2"); got != "-" {
		t.Errorf("resp_2 after its ttl: %q, want forgotten", got)
	}
	_ = s.Put(ctx, "resp_3", "a", time.Minute)
	_ = s.Put(ctx, "resp_4", "b", time.Minute)
	// Four records with room for three: the oldest goes.
	if got := get("resp_1") + get("resp_3") + get("resp_4"); got != "-ab" {
		t.Errorf("after eviction got %q, want -ab", got)
	}
	// The bound holds under many puts, and the newest are kept.
	for i := range 5000 {
		_ = s.Put(ctx, fmt.Sprint("r", i), "x", time.Minute)
	}
	if len(s.m) != 3 || get("r4999") != "x" || get("r4996") != "-" {
		t.Errorf("len %d, r4999 %q, r4996 %q", len(s.m), get("r4999"), get("r4996"))
	}
}

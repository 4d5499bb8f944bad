package sim

import "testing"

func TestIDs(t *testing.T) {
	if a, b := chatID(1), chatID(2); a == b || len(a) != 38 {
		t.Errorf("chatID: %q %q", a, b)
	}
	s, err := New(&Config{Seed: 1, TimeScale: 1, MaxBodyBytes: 10, Deployments: []Deployment{testStandard("a")}}, Options{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	id1, id2 := s.newRequestID(), s.newRequestID()
	if id1 == id2 || len(id1) != 36 || id1[8] != '-' || id1[23] != '-' {
		t.Errorf("request ids %q %q", id1, id2)
	}
}

package sim

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseFaultHeader(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		want    []fault
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"status", "503", []fault{{kind: faultStatus, status: 503}}, false},
		{"timeout", "408", []fault{{kind: faultStatus, status: 408}}, false},
		{"throttle", "429", []fault{{kind: faultThrottle, status: 429}}, false},
		{"legacy throttle", "424", []fault{{kind: faultLegacyThrottle, status: 424}}, false},
		{"reset targeted", "reset@gpt-4o-ptu", []fault{{kind: faultReset, deployment: "gpt-4o-ptu"}}, false},
		{"mid-stream", "reset-mid-stream", []fault{{kind: faultResetMidStream}}, false},
		{"slow", "slow-first-byte=250", []fault{{kind: faultSlowFirstByte, delay: 250 * time.Millisecond}}, false},
		{"slow with ms", "slow-first-byte=5ms", []fault{{kind: faultSlowFirstByte, delay: 5 * time.Millisecond}}, false},
		{"list with spaces", " 500@a , slow-first-byte=10@b,,502 ", []fault{
			{kind: faultStatus, status: 500, deployment: "a"},
			{kind: faultSlowFirstByte, delay: 10 * time.Millisecond, deployment: "b"},
			{kind: faultStatus, status: 502},
		}, false},
		{"unknown", "418", nil, true},
		{"bad delay", "slow-first-byte=soon", nil, true},
		{"negative delay", "slow-first-byte=-1", nil, true},
		{"huge delay", "slow-first-byte=99999999999999", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFaultHeader(tt.header)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("unknown is errUnknownFault", func(t *testing.T) {
		if _, err := parseFaultHeader("teapot"); !errors.Is(err, errUnknownFault) {
			t.Errorf("err = %v, want errUnknownFault", err)
		}
	})
}

func TestPlanFaults(t *testing.T) {
	faults := []fault{
		{kind: faultSlowFirstByte, delay: 10 * time.Millisecond},
		{kind: faultStatus, status: 503, deployment: "a"},
		{kind: faultSlowFirstByte, delay: 5 * time.Millisecond, deployment: "b"},
		{kind: faultReset},
	}
	tests := []struct {
		name       string
		deployment string
		wantDelay  time.Duration
		wantKind   faultKind
	}{
		{"a gets its 503", "a", 10 * time.Millisecond, faultStatus},
		{"b gets both delays and the untargeted reset", "b", 15 * time.Millisecond, faultReset},
		{"c gets the untargeted ones", "c", 10 * time.Millisecond, faultReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFaults(faults, tt.deployment)
			if p.delay != tt.wantDelay || p.terminal.kind != tt.wantKind {
				t.Errorf("plan = %+v, want delay %v kind %v", p, tt.wantDelay, tt.wantKind)
			}
		})
	}
	t.Run("header fault wins over a random one", func(t *testing.T) {
		p := planFaults([]fault{{kind: faultStatus, status: 500}}, "x").merge(fault{kind: faultReset})
		if p.terminal.kind != faultStatus {
			t.Errorf("terminal = %+v, want the header's 500", p.terminal)
		}
	})
	t.Run("random fault applies alone", func(t *testing.T) {
		p := planFaults(nil, "x").merge(fault{kind: faultSlowFirstByte, delay: time.Second})
		if p.delay != time.Second || p.terminal.kind != faultNone {
			t.Errorf("plan = %+v", p)
		}
	})
}

func FuzzParseFaultHeader(f *testing.F) {
	for _, s := range []string{"503", "reset@a,slow-first-byte=10", "429@x, 424", "slow-first-byte=", "@@,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := parseFaultHeader(s)
		if err != nil {
			return
		}
		for _, x := range fs {
			if x.kind == faultNone || x.delay < 0 || x.delay > maxSlowFirstByte {
				t.Fatalf("parsed an invalid fault %+v from %q", x, s)
			}
		}
		_ = planFaults(fs, "a")
	})
}

package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultHeader is the request header that injects faults:
//
//	x-sim-fault: <fault>[@<deployment>][,<fault>[@<deployment>]...]
//
// A fault with @name applies only when that deployment serves the request.
const FaultHeader = "x-sim-fault"

type faultKind uint8

const (
	faultNone           faultKind = iota
	faultStatus                   // 408, 500, 502, 503, 504: Azure's error body with that status
	faultThrottle                 // 429 in the deployment's configured form
	faultLegacyThrottle           // 424, the old-api-version throttle
	faultReset                    // TCP RST before any response
	faultResetMidStream           // part of the response, then TCP RST
	faultSlowFirstByte            // delay before anything is written
)

// fault is one parsed fault.
type fault struct {
	kind       faultKind
	status     int
	delay      time.Duration
	deployment string // "" applies to every deployment
}

// maxSlowFirstByte bounds slow-first-byte so a typo cannot park a request for a day.
const maxSlowFirstByte = 10 * time.Minute

var errUnknownFault = errors.New("unknown fault")

// parseFaultKind parses one fault without its @deployment suffix.
func parseFaultKind(s string) (fault, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "408", "500", "502", "503", "504":
		n, _ := strconv.Atoi(s)
		return fault{kind: faultStatus, status: n}, nil
	case "429":
		return fault{kind: faultThrottle, status: 429}, nil
	case "424":
		return fault{kind: faultLegacyThrottle, status: 424}, nil
	case "reset":
		return fault{kind: faultReset}, nil
	case "reset-mid-stream":
		return fault{kind: faultResetMidStream}, nil
	}
	if v, ok := strings.CutPrefix(s, "slow-first-byte="); ok {
		ms, err := strconv.ParseInt(strings.TrimSuffix(v, "ms"), 10, 64)
		if err != nil || ms < 0 {
			return fault{}, fmt.Errorf("slow-first-byte=%q: want a number of milliseconds >= 0", v)
		}
		d := time.Duration(ms) * time.Millisecond
		if d > maxSlowFirstByte || ms > int64(maxSlowFirstByte/time.Millisecond) {
			return fault{}, fmt.Errorf("slow-first-byte=%s: at most %d ms", v, maxSlowFirstByte/time.Millisecond)
		}
		return fault{kind: faultSlowFirstByte, delay: d}, nil
	}
	return fault{}, fmt.Errorf("%w %q: want 408, 429, 424, 500, 502, 503, 504, reset, reset-mid-stream or slow-first-byte=<ms>", errUnknownFault, s)
}

// maxFaults bounds the header's list.
const maxFaults = 32

// parseFaultHeader parses the x-sim-fault header value.
func parseFaultHeader(v string) ([]fault, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) > maxFaults {
		return nil, fmt.Errorf("at most %d faults", maxFaults)
	}
	out := make([]fault, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		spec, dep, _ := strings.Cut(p, "@")
		f, err := parseFaultKind(spec)
		if err != nil {
			return nil, err
		}
		f.deployment = strings.TrimSpace(dep)
		out = append(out, f)
	}
	return out, nil
}

// faultPlan is what happens to one request: an optional delay before the first
// byte, then at most one terminal fault.
type faultPlan struct {
	delay    time.Duration
	terminal fault // kind faultNone when the request is served normally
}

// planFaults keeps the faults that apply to deployment: all slow-first-byte
// delays add up, and the first other fault wins.
func planFaults(faults []fault, deployment string) faultPlan {
	var p faultPlan
	for _, f := range faults {
		if f.deployment != "" && f.deployment != deployment {
			continue
		}
		if f.kind == faultSlowFirstByte {
			p.delay += f.delay
			continue
		}
		if p.terminal.kind == faultNone {
			p.terminal = f
		}
	}
	return p
}

// merge adds a probabilistic fault to a header plan; the header's terminal fault wins.
func (p faultPlan) merge(f fault) faultPlan {
	if f.kind == faultSlowFirstByte {
		p.delay += f.delay
	} else if p.terminal.kind == faultNone {
		p.terminal = f
	}
	return p
}

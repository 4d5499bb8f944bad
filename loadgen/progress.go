package loadgen

import "sync/atomic"

// Progress counts a run while it goes, for a live display. Run updates it
// from its request goroutines; read it with Snapshot from any goroutine.
// The zero value is ready to use.
type Progress struct {
	sent, done, dropped           atomic.Int64
	ok, tooMany, serverErr, other atomic.Int64
	ptu, tpm                      atomic.Int64
}

// ProgressSnapshot is a Progress at one instant.
type ProgressSnapshot struct {
	// Sent requests, Done of them answered or failed, Dropped not sent.
	Sent, Done, Dropped int64
	// OK complete 2xx, TooMany 429, ServerErr 5xx, Other anything else
	// (other statuses, transport errors, incomplete bodies).
	OK, TooMany, ServerErr, Other int64
	// PTU and TPM count responses by x-spillway-tier.
	PTU, TPM int64
}

// Snapshot reads the counters.
func (p *Progress) Snapshot() ProgressSnapshot {
	return ProgressSnapshot{
		Sent: p.sent.Load(), Done: p.done.Load(), Dropped: p.dropped.Load(),
		OK: p.ok.Load(), TooMany: p.tooMany.Load(), ServerErr: p.serverErr.Load(), Other: p.other.Load(),
		PTU: p.ptu.Load(), TPM: p.tpm.Load(),
	}
}

func (p *Progress) sentOne() {
	if p != nil {
		p.sent.Add(1)
	}
}

func (p *Progress) droppedOne() {
	if p != nil {
		p.dropped.Add(1)
	}
}

// doneOne counts a finished request.
func (p *Progress) doneOne(r *Result) {
	if p == nil {
		return
	}
	switch {
	case r.OK():
		p.ok.Add(1)
	case r.Status == 429:
		p.tooMany.Add(1)
	case r.Status/100 == 5:
		p.serverErr.Add(1)
	default:
		p.other.Add(1)
	}
	switch r.Tier {
	case "ptu":
		p.ptu.Add(1)
	case "tpm":
		p.tpm.Add(1)
	}
	p.done.Add(1)
}

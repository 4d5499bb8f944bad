// Package extproctel records what the ext_proc server observes as
// spillway's telemetry: an extproc.Observer that feeds a *telemetry.Telemetry
// (and, chained, any other observer such as the capacity model).
//
// It lives apart from package telemetry so that extproc may import telemetry
// (tracer, propagation, attribute keys) without an import cycle.
package extproctel

import (
	"context"
	"sync"
	"time"

	"github.com/spillway-gw/spillway/config"
	"github.com/spillway-gw/spillway/extproc"
	"github.com/spillway-gw/spillway/telemetry"
)

// Observer records every attempt and request it is told of, then passes
// them to the next observer.
type Observer struct {
	tel  *telemetry.Telemetry
	next extproc.Observer
	now  func() time.Time

	mu        sync.Mutex
	failed    map[string]*pending // by request id
	lastSweep time.Time
}

var _ extproc.Observer = (*Observer)(nil)

// pending holds a request's failed attempts until the request ends and it
// is known which of them Envoy retried.
type pending struct {
	first    time.Time
	attempts []failedAttempt
}

type failedAttempt struct {
	number int
	s      telemetry.Spillover
}

// ptuTier is config.PTU's value, the tier a capacity spillover leaves.
const ptuTier = string(config.PTU)

// pendingMaxAge bounds how long a request's failed attempts wait for the
// request to end (a request whose end was never reported is forgotten).
const pendingMaxAge = 5 * time.Minute

// ObserverFor returns an Observer recording into tel and then calling next
// (nil for none).
func ObserverFor(tel *telemetry.Telemetry, next extproc.Observer) *Observer {
	return &Observer{tel: tel, next: next, now: time.Now, failed: map[string]*pending{}}
}

// ObserveAttempt records the attempt (spillway.upstream.attempts,
// spillway.upstream.throttled, spillway.retries) and remembers a failed one
// until its request ends.
func (o *Observer) ObserveAttempt(a extproc.Attempt) {
	if o.next != nil {
		o.next.ObserveAttempt(a)
	}
	info := attemptInfo(a)
	// The Observer interface carries no context; instruments use one only
	// to link exemplars to a span.
	o.tel.RecordAttempt(context.Background(), info)
	reason := telemetry.SpillReason(a.Status)
	if reason == "" || a.RequestID == "" {
		return
	}
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sweep(now)
	p := o.failed[a.RequestID]
	if p == nil {
		p = &pending{first: now}
		o.failed[a.RequestID] = p
	}
	p.attempts = append(p.attempts, failedAttempt{number: a.Number, s: telemetry.Spillover{
		Reason: reason, Backend: info.Backend, Tier: info.Tier, Model: info.Model,
	}})
}

// ObserveRequest records the request, its queue wait, and a spillover for
// every failed attempt that another attempt followed, or one with reason
// capacity when the request says the capacity model sent it past the PTU.
func (o *Observer) ObserveRequest(r extproc.Request) {
	if o.next != nil {
		o.next.ObserveRequest(r)
	}
	ctx := context.Background() // see ObserveAttempt
	var spills []telemetry.Spillover
	if r.ID != "" {
		o.mu.Lock()
		p := o.failed[r.ID]
		delete(o.failed, r.ID)
		o.mu.Unlock()
		if p != nil {
			spills = spilled(p.attempts, r.Attempts)
		}
	}
	if len(spills) == 0 && (r.SpillReason == telemetry.SpillCapacity || r.SpillReason == telemetry.SpillUnhealthy) {
		// The planner sent it past the PTU without trying it: no attempt
		// says which PTU backend, so the spillover names only the tier.
		spills = append(spills, telemetry.Spillover{Reason: r.SpillReason, Tier: ptuTier, Model: r.Model})
	}
	for _, s := range spills {
		o.tel.RecordSpillover(ctx, s)
	}
	info := requestInfo(r)
	info.SpillReason = r.SpillReason
	if len(spills) > 0 && info.SpillReason == "" {
		info.SpillReason = spills[0].Reason
	}
	o.tel.RecordRequest(ctx, info)
	if r.QueueWait > 0 {
		o.tel.RecordQueueWait(ctx, telemetry.QueueWait{Model: r.Model, Consumer: r.Consumer, Wait: r.QueueWait, Outcome: queueOutcome(r)})
	}
}

// spilled returns the failed attempts that were not the request's last:
// the last is the final response's attempt count, or the highest attempt
// seen when the response did not say (Envoy's own reply).
func spilled(failed []failedAttempt, attempts int) []telemetry.Spillover {
	last := attempts
	for _, f := range failed {
		last = max(last, f.number)
	}
	var out []telemetry.Spillover
	for _, f := range failed {
		if f.number < last {
			out = append(out, f.s)
		}
	}
	return out
}

func queueOutcome(r extproc.Request) string {
	switch {
	case r.Local && r.Status == 429:
		return telemetry.QueueTimeout
	case r.Status == 0:
		return telemetry.QueueCanceled
	}
	return telemetry.QueueAdmitted
}

// sweep forgets requests whose end never came, at most once a minute.
func (o *Observer) sweep(now time.Time) {
	if now.Sub(o.lastSweep) < time.Minute {
		return
	}
	o.lastSweep = now
	for id, p := range o.failed {
		if now.Sub(p.first) > pendingMaxAge {
			delete(o.failed, id)
		}
	}
}

func attemptInfo(a extproc.Attempt) telemetry.AttemptInfo {
	info := telemetry.AttemptInfo{Number: a.Number, Status: a.Status}
	if b := a.Backend; b != nil {
		info.Backend, info.Tier, info.Model = b.Name, string(b.Tier), b.Model
	}
	return info
}

func requestInfo(r extproc.Request) telemetry.RequestInfo {
	return telemetry.RequestInfo{
		Operation:        r.Operation,
		TimeToFirstToken: r.TimeToFirstToken,
		Model:            r.Model,
		Consumer:         r.Consumer,
		Backend:          r.Backend,
		Tier:             r.Tier,
		Status:           r.Status,
		Attempts:         r.Attempts,
		InputTokens:      r.Usage.PromptTokens,
		OutputTokens:     r.Usage.CompletionTokens,
		UsageKnown:       r.UsageKnown,
		Local:            r.Local,
		Cancelled:        r.Cancelled,
		Duration:         r.Duration,
		QueueWait:        r.QueueWait,
	}
}

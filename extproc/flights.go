package extproc

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/spillway-gw/spillway/capacity"
)

// flight is what the attempts of one request share with its router phase:
// the reservation to move (capacity routing), the request's span to hang
// attempt spans under, and why the request left a backend.
type flight struct {
	span trace.SpanContext
	// ended is closed when the router phase ends (nil for a flight an
	// attempt on another replica attached to); cancelled is then whether
	// the client went away before any response.
	ended chan struct{}

	mu          sync.Mutex
	res         *capacity.Reservation // nil in reactive routing
	spillReason string
	cancelled   bool
}

func newFlight(span trace.SpanContext) *flight {
	return &flight{span: span, ended: make(chan struct{})}
}

// end marks the request's end, and whether the client cancelled it.
func (f *flight) end(cancelled bool) {
	f.mu.Lock()
	f.cancelled = cancelled
	f.mu.Unlock()
	close(f.ended)
}

func (f *flight) wasCancelled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cancelled
}

func (f *flight) setReservation(r *capacity.Reservation) {
	f.mu.Lock()
	f.res = r
	f.mu.Unlock()
}

func (f *flight) reservation() *capacity.Reservation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.res
}

func (f *flight) setSpillReason(r string) {
	f.mu.Lock()
	f.spillReason = r
	f.mu.Unlock()
}

func (f *flight) reason() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spillReason
}

// flights are the requests in flight, by x-request-id: the one header every
// attempt carries unchanged. (Envoy's upstream filters mutate the request's
// own header map, so a header spillway removed before attempt 1 reached its
// backend would be gone for attempt 2 as well.)
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// add registers f under id and returns id, or, when a request with the same
// id is in flight (a client reusing its x-request-id), a fresh id the
// caller must put on the request.
func (fs *flights) add(id string, f *flight) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for id == "" || fs.m[id] != nil {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	fs.m[id] = f
	return id
}

func (fs *flights) get(id string) *flight {
	if id == "" {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.m[id]
}

// rename moves the flight at id to next (a shared store gave its
// reservation another id).
func (fs *flights) rename(id, next string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[id]; f != nil {
		delete(fs.m, id)
		fs.m[next] = f
	}
}

func (fs *flights) remove(id string) {
	fs.mu.Lock()
	delete(fs.m, id)
	fs.mu.Unlock()
}

func reservationID(r *capacity.Reservation) string {
	if r == nil {
		return ""
	}
	return r.ID()
}

// traceparent writes a span context as a W3C traceparent value: the form
// a flight's trace context takes in a shared store.
func traceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// parseTraceparent reads what traceparent wrote; an invalid context if it
// cannot.
func parseTraceparent(s string) trace.SpanContext {
	parts := strings.Split(s, "-")
	if len(parts) != 4 || parts[0] != "00" {
		return trace.SpanContext{}
	}
	tid, err1 := trace.TraceIDFromHex(parts[1])
	sid, err2 := trace.SpanIDFromHex(parts[2])
	flags, err3 := hex.DecodeString(parts[3])
	if err1 != nil || err2 != nil || err3 != nil || len(flags) != 1 {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]), Remote: true})
}

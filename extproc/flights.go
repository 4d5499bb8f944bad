package extproc

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/spillway-gw/spillway/capacity"
)

// flightHeader carries a request's flight id from the router phase to the
// upstream phase of each of its attempts (and is removed before the backend).
const flightHeader = "x-spillway-flight"

// flight is what the attempts of one request share with its router phase:
// the reservation to move (capacity routing), the request's span to hang
// attempt spans under, and why the request left a backend.
type flight struct {
	res  *capacity.Reservation // nil in reactive routing
	span trace.SpanContext

	mu          sync.Mutex
	spillReason string
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

// flights are the requests in flight, by flight id. The id is spillway's
// own, not x-request-id, which clients may reuse.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

func (fs *flights) add(f *flight) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	fs.mu.Lock()
	fs.m[id] = f
	fs.mu.Unlock()
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

func (fs *flights) remove(id string) {
	fs.mu.Lock()
	delete(fs.m, id)
	fs.mu.Unlock()
}

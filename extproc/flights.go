package extproc

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/spillway-gw/spillway/capacity"
)

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

func (fs *flights) remove(id string) {
	fs.mu.Lock()
	delete(fs.m, id)
	fs.mu.Unlock()
}

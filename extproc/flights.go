package extproc

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/spillway-gw/spillway/capacity"
)

// flightHeader carries a request's flight id from the router phase to the
// upstream phase of each of its attempts (and is removed before the backend).
const flightHeader = "x-spillway-flight"

// flights are the reservations of requests in flight, by flight id: the
// upstream phase moves a request's charge to the backend of each attempt.
// The id is spillway's own, not x-request-id, which clients may reuse.
type flights struct {
	mu sync.Mutex
	m  map[string]*capacity.Reservation
}

func (f *flights) add(res *capacity.Reservation) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	f.mu.Lock()
	f.m[id] = res
	f.mu.Unlock()
	return id
}

func (f *flights) get(id string) *capacity.Reservation {
	if id == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[id]
}

func (f *flights) remove(id string) {
	f.mu.Lock()
	delete(f.m, id)
	f.mu.Unlock()
}

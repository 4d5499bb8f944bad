package redisstore_test

import (
	"testing"
	"time"

	"github.com/spillway-gw/spillway/capacity/redisstore"
	"github.com/spillway-gw/spillway/test/e2etest"
)

// TestResponses: what one replica records, another finds; ids expire.
func TestResponses(t *testing.T) {
	r := e2etest.StartRedis(t)
	a := redisstore.New(t.Context(), client(t, r.Addr), redisstore.Options{KeyPrefix: "resp-test:", Timeout: 5 * time.Second}).Responses()
	b := redisstore.New(t.Context(), client(t, r.Addr), redisstore.Options{KeyPrefix: "resp-test:", Timeout: 5 * time.Second}).Responses()
	if _, found, err := b.Get(t.Context(), "resp_1"); found || err != nil {
		t.Fatalf("unknown id: found %v, err %v", found, err)
	}
	if err := a.Put(t.Context(), "resp_1", "ptu-eastus", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(t.Context(), "resp_2", "tpm-eastus2", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, found, err := b.Get(t.Context(), "resp_1"); got != "ptu-eastus" || !found || err != nil {
		t.Fatalf("other replica: %q %v %v", got, found, err)
	}
	e2etest.WaitFor(t, "resp_2 to expire", 5*time.Second, func() bool {
		_, found, err := b.Get(t.Context(), "resp_2")
		return !found && err == nil
	})
	r.Stop()
	if _, _, err := b.Get(t.Context(), "resp_1"); err == nil {
		t.Fatal("no error with Redis down")
	}
}

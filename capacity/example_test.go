package capacity_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spillway-gw/spillway/capacity"
	"github.com/spillway-gw/spillway/capacity/capacitytest"
)

func Example() {
	clock := capacitytest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := capacity.New(clock, capacity.Options{})
	m.SetBackends([]capacity.BackendSpec{
		{Name: "ptu-east", Tier: capacity.TierPTU, CapacityTPM: 60000},
		{Name: "paygo-west", Tier: capacity.TierTPM, TPM: 100000, Priority: 1},
		{Name: "paygo-north", Tier: capacity.TierTPM, TPM: 50000, Priority: 1},
	})
	cands := []string{"ptu-east", "paygo-west", "paygo-north"}

	plan, _ := m.Wait(context.Background(), "team-a", cands, 2000)
	fmt.Println(plan.Order)

	// The PTU answers 429 with retry-after-ms: the next request spills at once.
	h := http.Header{"Retry-After-Ms": []string{"40"}}
	plan.Reservation.Observe(http.StatusTooManyRequests, h.Get, nil)
	plan.Reservation.Move(plan.Order[1]) // Envoy retried on the next one
	plan.Reservation.Settle(1500)

	next, _ := m.Choose(cands, 2000)
	fmt.Println(next.Order)
	next.Reservation.Settle(1800)

	clock.Advance(40 * time.Millisecond)
	back, _ := m.Choose(cands, 2000)
	fmt.Println(back.Order[0])
	// Output:
	// [ptu-east paygo-west paygo-north]
	// [paygo-west paygo-north]
	// ptu-east
}

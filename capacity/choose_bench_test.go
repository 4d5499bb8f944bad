package capacity

import (
	"fmt"
	"sync"
	"testing"
)

// benchModel has one PTU and n-1 TPM backends over two priorities, with
// limits no benchmark exhausts, on the wall clock.
func benchModel(n int) (*Model, []string) {
	m := New(SystemClock{}, Options{})
	specs := []BackendSpec{{Name: "ptu", Tier: TierPTU, CapacityTPM: 1 << 50}}
	names := []string{"ptu"}
	for i := 1; i < n; i++ {
		name := fmt.Sprintf("tpm-%02d", i)
		specs = append(specs, BackendSpec{Name: name, Tier: TierTPM, TPM: 1 << 50, RPM: 1 << 50, Priority: i % 2, Weight: 1 + i%3})
		names = append(names, name)
	}
	m.SetBackends(specs)
	return m, names
}

// BenchmarkChooseSettle is the per-request cost on the hot path: Choose
// (which reserves) then Settle, from many goroutines at once.
func BenchmarkChooseSettle(b *testing.B) {
	for _, n := range []int{3, 20} {
		b.Run(fmt.Sprintf("backends=%d/parallel", n), func(b *testing.B) {
			m, names := benchModel(n)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p, ok := m.Choose(names, 1200)
					if !ok {
						b.Fatal("no room")
					}
					p.Reservation.Settle(900)
				}
			})
		})
		b.Run(fmt.Sprintf("backends=%d/serial", n), func(b *testing.B) {
			m, names := benchModel(n)
			b.ReportAllocs()
			for b.Loop() {
				p, ok := m.Choose(names, 1200)
				if !ok {
					b.Fatal("no room")
				}
				p.Reservation.Settle(900)
			}
		})
	}
}

// BenchmarkBaselineMutexMap is the floor to compare with: a sync.Mutex
// lock/unlock around one map lookup, uncontended (serial) and from many
// goroutines (parallel).
func BenchmarkBaselineMutexMap(b *testing.B) {
	m := map[string]int{"ptu": 1, "tpm-01": 2, "tpm-02": 3}
	var mu sync.Mutex
	b.Run("serial", func(b *testing.B) {
		sum := 0
		for b.Loop() {
			mu.Lock()
			sum += m["tpm-01"]
			mu.Unlock()
		}
		_ = sum
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			sum := 0
			for pb.Next() {
				mu.Lock()
				sum += m["tpm-01"]
				mu.Unlock()
			}
			_ = sum
		})
	})
}

//go:build linux

package tokens

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time the calling OS thread has used; callers lock
// their goroutine to its thread. On a shared, busy machine this measures the
// work itself, where wall time also counts the time other processes had the
// core.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

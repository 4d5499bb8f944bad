//go:build !linux

package tokens

import "time"

// threadCPU is not available here; benchmarks then report wall time only.
func threadCPU() time.Duration { return 0 }

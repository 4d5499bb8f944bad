//go:build !unix

package sim

import "time"

// processCPU is unknown on this platform; benchmarks then report wall-clock figures only.
func processCPU() time.Duration { return 0 }

//go:build gatewaybench

package gatewaybench

import (
	"fmt"
	"os"
	"testing"

	"github.com/spillway-gw/spillway/test/e2etest"
)

// floorEnv, when set in the environment, makes the test binary run the
// do-nothing ext_proc server on that address instead of the tests: the
// floor server is a process of its own, so its CPU is measured apart from
// the load generator's.
const floorEnv = "SPILLWAY_BENCH_FLOOR_SERVER"

var spillwayBin string

func TestMain(m *testing.M) {
	if addr := os.Getenv(floorEnv); addr != "" {
		if err := serveFloor(addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "spillway-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if spillwayBin, err = e2etest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := e2etest.CheckEnvoy(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

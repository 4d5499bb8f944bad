package main

import (
	"context"
	"errors"
	"io"
)

// runSim is being written in this session; this placeholder keeps the tree building.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("sim: not built yet")
}

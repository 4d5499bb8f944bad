package main

import (
	"context"
	"errors"
	"io"
)

// runCount is being written in this session; this placeholder keeps the tree building.
func runCount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("count: not built yet")
}

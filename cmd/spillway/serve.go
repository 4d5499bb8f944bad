package main

import (
	"context"
	"errors"
	"io"
)

// runServe is being written in this session; this placeholder keeps the tree building.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("serve: not built yet")
}

// Package reload watches a config file and calls back when its content
// changes. It polls: that works the same on every filesystem, including
// Kubernetes ConfigMap mounts where the file is replaced through a symlink
// swap that inotify-based watchers miss.
package reload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// Watch calls onChange each time the content of path differs from what it
// was at the previous change, until ctx ends. New content counts once two
// checks in a row read it: a file being written in place (truncated, then
// filled) is not taken half-written. A file that cannot be read is not a
// change: the last good config keeps serving.
func Watch(ctx context.Context, path string, interval time.Duration, onChange func(context.Context)) error {
	last := digest(path)
	var pending []byte // new content seen once, not yet settled
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		d := digest(path)
		switch {
		case d == nil || bytes.Equal(d, last):
			pending = nil
		case !bytes.Equal(d, pending):
			pending = d
		default:
			last, pending = d, nil
			onChange(ctx)
		}
	}
}

func digest(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

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
// was at the previous check, until ctx ends. A file that cannot be read is
// not a change: the last good config keeps serving.
func Watch(ctx context.Context, path string, interval time.Duration, onChange func(context.Context)) error {
	last := digest(path)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		d := digest(path)
		if d == nil || bytes.Equal(d, last) {
			continue
		}
		last = d
		onChange(ctx)
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

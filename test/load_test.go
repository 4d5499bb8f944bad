package test

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoadReportThroughGateway runs `spillway load` against the whole stack:
// a PTU small enough to throttle, spilled to TPM in reactive routing, so the
// report shows both tiers and the upstream attempts from spillway's headers.
func TestLoadReportThroughGateway(t *testing.T) {
	smallPTU := strings.Replace(simConfig, "capacity_tpm: 1000000", "capacity_tpm: 3000", 1)
	s := startStack(t, stackOptions{simYAML: smallPTU, gatewayYAML: threeBackends})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, spillwayBin, "load", "--url", s.gatewayURL, "--key", "client-key-1",
		"--requests", "40", "--concurrency", "4", "--stream-share", "0.5", "--timeout", "20s")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("spillway load: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	t.Logf("spillway load report:\n%s", out)
	for _, re := range []string{
		`requests +40 offered, 40 sent, 0 dropped`,
		`\n  200 +40 +100\.0% +█{40}\n`,
		`tokens by tier .*\n  ptu +[1-9]\d* +[1-9]\d* +[1-9]\d* +[1-9]\d*\n  tpm +[1-9]\d* +[1-9]\d* +[1-9]\d* +[1-9]\d*\n`,
		`tokens by backend .*\n  ptu-eastus +[1-9]\d*.*\n  tpm-eastus2 +[1-9]\d*`,
		`attempts +(4[1-9]|[5-9]\d) for 40 answers`, // PTU 429s retried on a TPM backend
		`answers retried +[1-9]\d*\n`,
		`failed attempts +[1-9]\d* \(429 or 5xx from a backend\)`,
		`429 to the client +0 from a backend, 0 from spillway`,
		`first token \(streams\) +[1-9]\d* `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("report does not match %q:\n%s", re, out)
		}
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "not spillway") {
		t.Errorf("unexpected report:\n%q", out)
	}
}

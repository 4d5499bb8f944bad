package test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// prioritiesSim's PTU is as small as the gateway believes: its utilization
// headers agree with the gateway's model.
var prioritiesSim = strings.Replace(limitsSim, "capacity_tpm: 1000000", "capacity_tpm: 2000", 1)

// prioritiesGateway: a PTU of 2000 tokens a minute (the gateway's belief)
// and a TPM backend in another region; batch consumers leave half of the
// PTU to the others.
var prioritiesGateway = gatewayListeners + `
consumers:
  - name: interactive
    api_key: {file: secrets/client-key}
    priority: interactive
  - name: batch
    api_key: {file: secrets/batch-key}
    priority: batch
  - name: ptu-only
    api_key: {file: secrets/ptu-only-key}
    priority: batch
    spill: never
  - name: eu
    api_key: {file: secrets/eu-key}
    regions: [eastus2]
priorities:
  headroom: {batch: 0.5}
` + fastRetry + capacityGPT4o + backendPTUSmallYAML + backendEast2YAML

// TestConsumerPriorities: batch traffic spills to TPM while half the PTU is
// still free, and an interactive request then finds the PTU; a PTU-only
// batch consumer is answered 429 rather than sent to TPM; a consumer bound
// to a region is served only there.
func TestConsumerPriorities(t *testing.T) {
	s := startStack(t, stackOptions{simYAML: prioritiesSim, gatewayYAML: prioritiesGateway, secrets: map[string]string{
		"secrets/batch-key": "batch-key-1\n", "secrets/ptu-only-key": "ptu-only-key-1\n", "secrets/eu-key": "eu-key-1\n",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	onPTU := 0
	for {
		r := s.chat(ctx, limitedChat, key("batch-key-1"))
		expectStatus(t, r, 200)
		if r.header.Get("x-spillway-backend") != backendPTU {
			expectServedBy(t, r, backendEast2, "tpm", "1")
			break
		}
		if onPTU++; onPTU > 20 {
			t.Fatal("batch never left the PTU")
		}
	}
	// 2000 tokens, 1000 kept: the batch requests (108 tokens each, 100 of
	// them the completion) fit while the PTU holds at most 892 (it drains
	// 33 a second meanwhile).
	if onPTU < 8 || onPTU > 10 {
		t.Fatalf("batch spilled after %d requests on the PTU, want 9 (half of 2000 left free)", onPTU)
	}
	r := s.chat(ctx, limitedChat, nil)
	expectStatus(t, r, 200)
	expectServedBy(t, r, backendPTU, "ptu", "1")

	r = s.chat(ctx, limitedChat, key("ptu-only-key-1"))
	if r.status != 429 || r.header.Get("retry-after") == "" {
		t.Fatalf("PTU-only batch consumer with the PTU past its headroom: status %d, retry-after %q, want 429 with one", r.status, r.header.Get("retry-after"))
	}
	expectAzureError(t, r, "429")

	for range 2 {
		r = s.chat(ctx, limitedChat, key("eu-key-1"))
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendEast2, "tpm", "1")
	}
	t.Logf("batch: %d requests on the PTU, then TPM; interactive on the PTU; ptu-only 429; eu on %s", onPTU, backendEast2)
}

package test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPromptCacheReachesTheModel: a repeated long prompt is partly served
// from the deployment's prompt cache (the simulator caches as Azure does),
// and the cached tokens reach spillway, which settles a PTU's charge
// without them (checked in the capacity package's tests) and logs them.
func TestPromptCacheReachesTheModel(t *testing.T) {
	s := startStack(t, stackOptions{simYAML: simConfig, gatewayYAML: cancelGateway})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body := `{"messages":[{"role":"user","content":"` + strings.Repeat("cache me ", 600) + `"}],"max_tokens":20}`
	var cached []int
	for i := range 2 {
		r := s.chat(ctx, body, nil)
		expectStatus(t, r, 200)
		expectServedBy(t, r, backendPTU, "ptu", "1")
		var out struct {
			Usage struct {
				PromptTokens  int `json:"prompt_tokens"`
				PromptDetails struct {
					CachedTokens int `json:"cached_tokens"`
				} `json:"prompt_tokens_details"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatalf("response %d: %v\n%s", i, err, r.body)
		}
		if out.Usage.PromptTokens < 1024 {
			t.Fatalf("prompt of %d tokens: too short to be cached", out.Usage.PromptTokens)
		}
		cached = append(cached, out.Usage.PromptDetails.CachedTokens)
		id := r.header.Get("x-request-id")
		var line string
		waitFor(t, "spillway's request log line", 5*time.Second, func() bool {
			line = logLine(s.spillway.out.String(), `"msg":"request"`, id)
			return line != ""
		})
		if want := `"cached_prompt_tokens":` + strconv.Itoa(cached[i]) + `,`; !strings.Contains(line, want) {
			t.Errorf("request %d: log line lacks %s: %s", i, want, line)
		}
	}
	if cached[0] != 0 || cached[1] < 1024 || (cached[1]-1024)%128 != 0 {
		t.Fatalf("cached tokens %v: want none the first time, then 1,024 + k × 128", cached)
	}
}

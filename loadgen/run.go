package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds every run respects, whatever it is asked.
const (
	// MaxDuration caps a run's sending phase.
	MaxDuration = 30 * time.Minute
	// MaxRate caps the offered rate, requests per second.
	MaxRate = 5000
	// DefaultMaxInFlight caps requests in flight when Config leaves it 0.
	DefaultMaxInFlight = 512
	// DefaultRequestTimeout bounds one request when Config leaves it 0.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultAPIVersion is the api-version query parameter sent.
	DefaultAPIVersion = "2024-10-21"
	// MaxRequests caps a closed-loop run's requests.
	MaxRequests = 10_000_000
	// DefaultConcurrency is a closed-loop run's workers when Config leaves it 0.
	DefaultConcurrency = 8
)

// Config is one run.
type Config struct {
	// URL is the base URL, e.g. http://127.0.0.1:10000; requests go to
	// URL/openai/deployments/Model/chat/completions?api-version=APIVersion.
	URL string
	// Key is sent as the api-key header.
	Key string
	// Model is the deployment name in the path.
	Model      string
	APIVersion string
	// Rate is the offered load in requests per second (open loop).
	Rate float64
	// Requests, when > 0, makes the run a closed loop: Requests requests
	// sent by Concurrency workers, each sending its next request when the
	// previous one has finished. Rate must then be 0.
	Requests int
	// Concurrency is the closed loop's workers; DefaultConcurrency when 0.
	Concurrency int
	// Duration is how long arrivals are sent; at most MaxDuration. In a
	// closed loop it bounds the run (MaxDuration when 0): requests not yet
	// sent by then are not sent.
	Duration time.Duration
	// Arrivals is Poisson (default) or Fixed.
	Arrivals Arrivals
	// Mix is the request sizes; DefaultMix when empty.
	Mix []Size
	// Prompts, when set, replaces the generated requests: request seq sends
	// Prompts[seq % len(Prompts)], a chat-completions body (see ReadPrompts).
	Prompts []json.RawMessage
	// StreamShare is the probability that a request streams, 0 to 1.
	StreamShare float64
	// Seed makes the plan repeatable.
	Seed uint64
	// MaxInFlight caps requests in flight; an arrival beyond it is dropped.
	MaxInFlight int
	// RequestTimeout bounds each request; requests still running
	// RequestTimeout after the sending phase are cancelled.
	RequestTimeout time.Duration
	// Header is added to every request.
	Header http.Header
	// Client sends the requests; a client sized for MaxInFlight when nil.
	Client *http.Client
	// Progress, when set, is updated as requests are sent and finish.
	Progress *Progress
	// RetryAfter429, when set, retries every 429 that carries a retry time
	// once, that long after it arrived (retry-after-ms, else retry-after in
	// seconds, as OpenAI's SDKs read them); Result.Retry holds the outcome.
	RetryAfter429 bool
	// Classes, when set, splits the requests between clients: each request
	// is dealt a class (DealClasses: exact shares every 100 requests; the
	// plan's times and sizes are those of the same run without classes),
	// sends the class's Key instead of Key, and records its Name.
	Classes []Class
}

// Class is one client of a run with several: its share of the requests
// (Weight / sum of the weights) and the api-key it sends.
type Class struct {
	Name   string  `json:"name"`
	Key    string  `json:"-"`
	Weight float64 `json:"weight"`
}

// Result is what one request saw.
type Result struct {
	Seq  int    `json:"seq"`
	Size string `json:"size"`
	// Class is the request's Config.Classes name; empty without classes.
	Class  string `json:"class,omitempty"`
	Stream bool   `json:"stream"`
	// Scheduled is the planned send time and Sent the actual one, from the
	// start of the run.
	Scheduled time.Duration `json:"scheduled_ns"`
	Sent      time.Duration `json:"sent_ns"`
	// Dropped: not sent, MaxInFlight requests were in flight.
	Dropped bool `json:"dropped,omitempty"`
	// Status is the HTTP status; 0 when no response arrived.
	Status int `json:"status"`
	// Err is a transport error, a timeout or an incomplete stream.
	Err      string `json:"err,omitempty"`
	Backend  string `json:"backend,omitempty"`
	Tier     string `json:"tier,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// TTFB is the time to the response's first byte, Latency to its last.
	TTFB    time.Duration `json:"ttfb_ns"`
	Latency time.Duration `json:"latency_ns"`
	// TTFT is a stream's time to its first content event (a data: event
	// with a choices delta); 0 for a response that does not stream.
	TTFT time.Duration `json:"ttft_ns,omitempty"`
	// ErrorBody is the start of a non-2xx response's body.
	ErrorBody string `json:"error_body,omitempty"`
	// Usage as the response reported it; UsageKnown false when it did not.
	UsageKnown       bool `json:"usage_known"`
	PromptTokens     int  `json:"prompt_tokens"`
	CompletionTokens int  `json:"completion_tokens"`
	TotalTokens      int  `json:"total_tokens"`
	// RetryAfter is a 429's retry time (retry-after-ms, else retry-after);
	// 0 when it had none.
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
	// Retry is the outcome of the retry of a 429 (Config.RetryAfter429).
	Retry *Retry `json:"retry,omitempty"`
}

// Retry is what the one retry of a 429 saw.
type Retry struct {
	Status  int    `json:"status"`
	Err     string `json:"err,omitempty"`
	Backend string `json:"backend,omitempty"`
	// TotalTokens is the retry's usage when it succeeded.
	TotalTokens int `json:"total_tokens"`
}

// OK reports whether the retry got a complete 2xx.
func (r *Retry) OK() bool { return r != nil && r.Status/100 == 2 && r.Err == "" }

// OK reports whether the request got a complete 2xx response.
func (r Result) OK() bool { return r.Status/100 == 2 && r.Err == "" }

// Report is a whole run.
type Report struct {
	Start   time.Time     `json:"start"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Config  Config        `json:"-"`
	// Results has one entry per planned arrival that was due before the
	// run ended, in plan order.
	Results []Result `json:"results"`
}

// validate checks c and fills defaults.
func (c *Config) validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http(s) base URL like http://127.0.0.1:10000", c.URL))
	}
	if c.Model == "" {
		errs = append(errs, errors.New("model: required (the deployment name in the path)"))
	}
	switch {
	case c.Requests < 0 || c.Requests > MaxRequests:
		errs = append(errs, fmt.Errorf("requests: %d must be between 1 and %d (0: open loop at rate)", c.Requests, MaxRequests))
	case c.Requests > 0:
		if c.Rate != 0 {
			errs = append(errs, errors.New("rate: an open-loop rate cannot be combined with a closed-loop number of requests"))
		}
		if c.Concurrency < 0 {
			errs = append(errs, fmt.Errorf("concurrency: %d must be >= 1 (0: %d)", c.Concurrency, DefaultConcurrency))
		}
		if c.Concurrency == 0 {
			c.Concurrency = DefaultConcurrency
		}
		if c.Duration == 0 {
			c.Duration = MaxDuration
		}
		// A closed loop never has more than Concurrency requests in flight.
		if c.MaxInFlight == 0 {
			c.MaxInFlight = c.Concurrency
		}
	case !(c.Rate > 0 && c.Rate <= MaxRate):
		errs = append(errs, fmt.Errorf("rate: %v must be > 0 and at most %d requests/s", c.Rate, MaxRate))
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration: %v must be > 0 and at most %v", c.Duration, MaxDuration))
	}
	if c.StreamShare < 0 || c.StreamShare > 1 {
		errs = append(errs, fmt.Errorf("stream share: %v must be between 0 and 1", c.StreamShare))
	}
	switch c.Arrivals {
	case "":
		c.Arrivals = Poisson
	case Poisson, Fixed:
	default:
		errs = append(errs, fmt.Errorf("arrivals: %q is not poisson or fixed", c.Arrivals))
	}
	if len(c.Mix) == 0 {
		c.Mix = DefaultMix
	}
	for i, s := range c.Mix {
		if s.Words < 1 || s.MaxTokens < 1 || s.Weight < 0 {
			errs = append(errs, fmt.Errorf("mix[%d]: words and max_tokens must be >= 1, weight >= 0", i))
		}
	}
	names := map[string]bool{}
	for i, cl := range c.Classes {
		if cl.Name == "" || names[cl.Name] || cl.Weight < 0 {
			errs = append(errs, fmt.Errorf("classes[%d]: a name of its own and a weight >= 0 required", i))
		}
		names[cl.Name] = true
	}
	if len(c.Classes) > 0 && len(newDeck(classWeights(c.Classes))) == 0 {
		errs = append(errs, errors.New("classes: no class has a weight > 0"))
	}
	if c.MaxInFlight < 0 || c.RequestTimeout < 0 {
		errs = append(errs, errors.New("max in-flight and request timeout must be >= 0 (0: default)"))
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.APIVersion == "" {
		c.APIVersion = DefaultAPIVersion
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{
			MaxIdleConns:        c.MaxInFlight,
			MaxIdleConnsPerHost: c.MaxInFlight,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		}}
	}
	return errors.Join(errs...)
}

// Run sends cfg's requests and returns every request's result once the last
// one has finished: open loop (arrivals at Rate for Duration) or, when
// Requests > 0, closed loop (Concurrency workers). It returns early, with
// what was done, when ctx is cancelled. It never runs longer than
// cfg.Duration + cfg.RequestTimeout.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	ownClient := cfg.Client == nil
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if ownClient {
		defer cfg.Client.CloseIdleConnections()
	}
	target := strings.TrimRight(cfg.URL, "/") + "/openai/deployments/" + url.PathEscape(cfg.Model) +
		"/chat/completions?api-version=" + url.QueryEscape(cfg.APIVersion)

	start := time.Now()
	// The hard stop: nothing outlives the sending phase by more than a request timeout.
	ctx, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration+cfg.RequestTimeout))
	defer cancel()

	var results []Result
	if cfg.Requests > 0 {
		results = runClosed(ctx, cfg, target, start)
	} else {
		results = runOpen(ctx, cfg, target, start)
	}
	return &Report{Start: start, Config: cfg, Results: results, Elapsed: time.Since(start)}, nil
}

// runOpen sends the arrivals of an open-loop plan on schedule.
func runOpen(ctx context.Context, cfg Config, target string, start time.Time) []Result {
	plan := Plan(cfg.Seed, cfg.Arrivals, cfg.Rate, cfg.Duration, cfg.Mix, cfg.StreamShare)
	DealClasses(cfg.Seed, plan, cfg.Classes)
	results := make([]Result, len(plan))
	sem := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	sent := 0
send:
	for i, a := range plan {
		if d := time.Until(start.Add(a.At)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				break send
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			break send
		}
		r := &results[i]
		body, key := cfg.request(a, r)
		r.Scheduled = a.At
		sent = i + 1
		select {
		case sem <- struct{}{}:
		default:
			r.Dropped = true
			cfg.Progress.droppedOne()
			continue
		}
		cfg.Progress.sentOne()
		wg.Go(func() {
			defer func() { <-sem }()
			attempt(ctx, cfg, target, key, body, start, r)
			cfg.Progress.doneOne(r)
		})
	}
	wg.Wait()
	return results[:sent]
}

// runClosed sends a closed-loop plan from cfg.Concurrency workers, each
// taking the next request when its previous one has finished, until the
// plan is sent or cfg.Duration has passed.
func runClosed(ctx context.Context, cfg Config, target string, start time.Time) []Result {
	plan := ClosedPlan(cfg.Seed, cfg.Requests, cfg.Mix, cfg.StreamShare)
	DealClasses(cfg.Seed, plan, cfg.Classes)
	results := make([]Result, len(plan))
	sendUntil := start.Add(cfg.Duration)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(sendUntil) {
				i := int(next.Add(1)) - 1
				if i >= len(plan) {
					return
				}
				r := &results[i]
				body, key := cfg.request(plan[i], r)
				r.Scheduled = time.Since(start)
				cfg.Progress.sentOne()
				attempt(ctx, cfg, target, key, body, start, r)
				cfg.Progress.doneOne(r)
			}
		})
	}
	wg.Wait()
	return results[:min(int(next.Load()), len(plan))]
}

// request returns the body of arrival a and the api-key to send it with,
// and starts its result.
func (c *Config) request(a Arrival, r *Result) (body []byte, key string) {
	*r = Result{Seq: a.Seq, Stream: a.Stream}
	key = c.Key
	if len(c.Classes) > 0 {
		cl := c.Classes[a.Class]
		r.Class, key = cl.Name, cl.Key
	}
	if len(c.Prompts) == 0 {
		size := c.Mix[a.Size]
		r.Size = size.Name
		return Body(a.Seq, size, a.Stream), key
	}
	line := a.Seq % len(c.Prompts)
	r.Size = "prompt-" + strconv.Itoa(line+1)
	body, stream, err := promptBody(c.Prompts[line], a.Stream)
	if err != nil {
		// Sent as it is: the gateway's answer to a bad body is the result.
		return c.Prompts[line], key
	}
	r.Stream = stream
	return body, key
}

// attempt sends one request and, with cfg.RetryAfter429, retries a 429
// once after its retry time.
func attempt(ctx context.Context, cfg Config, target, key string, body []byte, start time.Time, r *Result) {
	do(ctx, cfg, target, key, body, start, r)
	if !cfg.RetryAfter429 || r.Status != http.StatusTooManyRequests || r.RetryAfter <= 0 {
		return
	}
	t := time.NewTimer(r.RetryAfter)
	defer t.Stop()
	select {
	case <-ctx.Done():
		r.Retry = &Retry{Err: errorText(ctx.Err())}
		return
	case <-t.C:
	}
	var rr Result
	do(ctx, cfg, target, key, body, start, &rr)
	r.Retry = &Retry{Status: rr.Status, Err: rr.Err, Backend: rr.Backend, TotalTokens: rr.TotalTokens}
}

// retryAfter reads a 429's retry time as OpenAI's SDKs do: retry-after-ms,
// else retry-after in seconds; 0 when neither is usable.
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseFloat(h.Get("retry-after-ms"), 64); err == nil && ms >= 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	if s, err := strconv.ParseFloat(h.Get("retry-after"), 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	return 0
}

// do sends one request with api-key key (none when empty) and fills r.
func do(ctx context.Context, cfg Config, target, key string, body []byte, start time.Time, r *Result) {
	ctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	var firstByte time.Time
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotFirstResponseByte: func() { firstByte = time.Now() },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		r.Err = err.Error()
		return
	}
	for k, vs := range cfg.Header {
		req.Header[k] = vs
	}
	req.Header.Set("content-type", "application/json")
	if key != "" {
		req.Header.Set("api-key", key)
	}
	t0 := time.Now()
	r.Sent = t0.Sub(start)
	resp, err := cfg.Client.Do(req)
	if err != nil {
		r.Latency = time.Since(t0)
		r.Err = errorText(err)
		return
	}
	defer resp.Body.Close()
	// GotFirstResponseByte has run by the time Do returns.
	if !firstByte.IsZero() {
		r.TTFB = firstByte.Sub(t0)
	}
	r.Status = resp.StatusCode
	r.Backend = resp.Header.Get("x-spillway-backend")
	r.Tier = resp.Header.Get("x-spillway-tier")
	r.Attempts, _ = strconv.Atoi(resp.Header.Get("x-spillway-attempts"))
	if resp.StatusCode == http.StatusTooManyRequests {
		r.RetryAfter = retryAfter(resp.Header)
	}
	var u usage
	switch {
	case resp.StatusCode/100 != 2:
		r.ErrorBody, err = readError(resp.Body)
	case strings.HasPrefix(resp.Header.Get("content-type"), "text/event-stream"):
		u, err = readSSE(resp.Body, func() { r.TTFT = time.Since(t0) })
	default:
		u, err = readJSON(resp.Body, true)
	}
	r.Latency = time.Since(t0)
	if err != nil {
		r.Err = errorText(err)
	}
	if u.known {
		r.UsageKnown = true
		r.PromptTokens, r.CompletionTokens, r.TotalTokens = u.PromptTokens, u.CompletionTokens, u.TotalTokens
	}
}

// errorText is a short, stable description of a request error.
func errorText(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errIncompleteStream):
		return "incomplete"
	default:
		return err.Error()
	}
}

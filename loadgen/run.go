package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	// Rate is the offered load in requests per second.
	Rate float64
	// Duration is how long arrivals are sent; at most MaxDuration.
	Duration time.Duration
	// Arrivals is Poisson (default) or Fixed.
	Arrivals Arrivals
	// Mix is the request sizes; DefaultMix when empty.
	Mix []Size
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
}

// Result is what one request saw.
type Result struct {
	Seq    int    `json:"seq"`
	Size   string `json:"size"`
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
	// Usage as the response reported it; UsageKnown false when it did not.
	UsageKnown       bool `json:"usage_known"`
	PromptTokens     int  `json:"prompt_tokens"`
	CompletionTokens int  `json:"completion_tokens"`
	TotalTokens      int  `json:"total_tokens"`
}

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
	if !(c.Rate > 0 && c.Rate <= MaxRate) {
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

// Run sends cfg's plan and returns every request's result once the last one
// has finished. It returns early, with what was done, when ctx is cancelled.
// It never runs longer than cfg.Duration + cfg.RequestTimeout.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	ownClient := cfg.Client == nil
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if ownClient {
		defer cfg.Client.CloseIdleConnections()
	}
	plan := Plan(cfg.Seed, cfg.Arrivals, cfg.Rate, cfg.Duration, cfg.Mix, cfg.StreamShare)
	target := strings.TrimRight(cfg.URL, "/") + "/openai/deployments/" + url.PathEscape(cfg.Model) +
		"/chat/completions?api-version=" + url.QueryEscape(cfg.APIVersion)

	start := time.Now()
	// The hard stop: nothing outlives the sending phase by more than a request timeout.
	ctx, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration+cfg.RequestTimeout))
	defer cancel()

	rep := &Report{Start: start, Config: cfg, Results: make([]Result, 0, len(plan))}
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
		size := cfg.Mix[a.Size]
		results[i] = Result{Seq: a.Seq, Size: size.Name, Stream: a.Stream, Scheduled: a.At}
		sent = i + 1
		select {
		case sem <- struct{}{}:
		default:
			results[i].Dropped = true
			continue
		}
		wg.Add(1)
		go func(r *Result, body []byte) {
			defer wg.Done()
			defer func() { <-sem }()
			do(ctx, cfg, target, body, start, r)
		}(&results[i], Body(a.Seq, size, a.Stream))
	}
	wg.Wait()
	rep.Results = append(rep.Results, results[:sent]...)
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// do sends one request and fills r.
func do(ctx context.Context, cfg Config, target string, body []byte, start time.Time, r *Result) {
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
	if cfg.Key != "" {
		req.Header.Set("api-key", cfg.Key)
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
	var u usage
	if strings.HasPrefix(resp.Header.Get("content-type"), "text/event-stream") {
		u, err = readSSE(resp.Body)
	} else {
		u, err = readJSON(resp.Body, resp.StatusCode/100 == 2)
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

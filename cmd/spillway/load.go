package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/spillway-gw/spillway/loadgen"
)

// runLoad sends open-loop chat-completions load to a gateway (or straight to
// a deployment) and prints a JSON summary.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:10000", "base URL of the gateway or Azure-style endpoint")
	fs.StringVar(&cfg.Key, "key", "demo-key", "api-key header value")
	fs.StringVar(&cfg.Model, "model", "gpt-4o", "model (deployment) name in the path")
	fs.StringVar(&cfg.APIVersion, "api-version", loadgen.DefaultAPIVersion, "api-version query parameter")
	fs.Float64Var(&cfg.Rate, "rate", 10, "offered load, requests per second (open loop)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, fmt.Sprintf("how long arrivals are sent (at most %v)", loadgen.MaxDuration))
	arrivals := fs.String("arrivals", string(loadgen.Poisson), "arrival process: poisson or fixed")
	fs.Float64Var(&cfg.StreamShare, "stream-share", 0, "share of requests that stream, 0 to 1")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the arrivals, sizes and prompts")
	fs.IntVar(&cfg.MaxInFlight, "max-inflight", loadgen.DefaultMaxInFlight, "requests in flight at most; later arrivals are dropped and counted")
	fs.DurationVar(&cfg.RequestTimeout, "timeout", 60*time.Second, "per-request timeout; the run ends at most this long after the last arrival")
	results := fs.Bool("results", false, "print every request's result, one JSON line each, before the summary")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: spillway load [--url URL] [--key KEY] [--model NAME] [--rate N] [--duration D] [--stream-share F] [--seed N]")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args, stderr); done {
		return err
	}
	cfg.Arrivals = loadgen.Arrivals(*arrivals)
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return exitCode(2)
	}
	enc := json.NewEncoder(stdout)
	if *results {
		for _, r := range rep.Results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	return enc.Encode(loadgen.Summarize(rep.Results, rep.Elapsed))
}

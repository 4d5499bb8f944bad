package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spillway-gw/spillway/loadgen"
)

// runLoad sends chat-completions load to a gateway (or straight to a
// deployment): open loop at --rate, or closed loop of --requests N from
// --concurrency workers. It shows a live line while it runs when stdout is a
// terminal, and prints a report for people at the end, or with --json the
// summary as one JSON object.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:10000", "base URL of the gateway or Azure-style endpoint")
	fs.StringVar(&cfg.Key, "key", "demo-key", "api-key header value")
	fs.StringVar(&cfg.Model, "model", "gpt-4o", "model (deployment) name in the path")
	fs.StringVar(&cfg.APIVersion, "api-version", loadgen.DefaultAPIVersion, "api-version query parameter")
	fs.Float64Var(&cfg.Rate, "rate", 10, "offered load, requests per second (open loop)")
	fs.IntVar(&cfg.Requests, "requests", 0, "closed loop: send this many requests from --concurrency workers instead of an open-loop --rate")
	fs.IntVar(&cfg.Concurrency, "concurrency", loadgen.DefaultConcurrency, "closed loop: workers, each sending its next request when the previous one has finished")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, fmt.Sprintf("how long arrivals are sent (at most %v); with --requests, a bound on the run (%v unless set)", loadgen.MaxDuration, loadgen.MaxDuration))
	arrivals := fs.String("arrivals", string(loadgen.Poisson), "arrival process: poisson or fixed")
	prompts := fs.String("prompts", "", "JSONL file of chat-completions requests, one per line, sent in turn instead of generated prompts")
	fs.Float64Var(&cfg.StreamShare, "stream-share", 0, "share of requests that stream, 0 to 1 (with --prompts: besides lines that say \"stream\": true)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the arrivals, sizes and prompts")
	fs.IntVar(&cfg.MaxInFlight, "max-inflight", loadgen.DefaultMaxInFlight, "open loop: requests in flight at most; later arrivals are dropped and counted")
	fs.DurationVar(&cfg.RequestTimeout, "timeout", 60*time.Second, "per-request timeout; the run ends at most this long after the last arrival")
	jsonOut := fs.Bool("json", false, "print the summary as one JSON object instead of the report")
	results := fs.Bool("results", false, "print every request's result, one JSON line each, then the JSON summary (implies --json)")
	progress := fs.String("progress", "auto", "live progress line: auto (when stdout is a terminal), on or off")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: spillway load [--url URL] [--key KEY] [--model NAME] [--rate N | --requests N --concurrency C]
                     [--duration D] [--prompts FILE] [--stream-share F] [--json]`)
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args, stderr); done {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.Requests > 0 {
		// A closed loop has no rate, and runs until its requests are done.
		if !set["rate"] {
			cfg.Rate = 0
		}
		if !set["duration"] {
			cfg.Duration = 0
		}
		if !set["max-inflight"] {
			cfg.MaxInFlight = 0
		}
	}
	cfg.Arrivals = loadgen.Arrivals(*arrivals)
	if *prompts != "" {
		p, err := readPromptsFile(*prompts)
		if err != nil {
			fmt.Fprintf(stderr, "load: prompts: %v\n", err)
			return exitCode(2)
		}
		cfg.Prompts = p
	}
	live, err := wantLive(*progress, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return exitCode(2)
	}
	var line *liveLine
	if live {
		cfg.Progress = &loadgen.Progress{}
		line = startLiveLine(ctx, stdout, cfg)
	}
	rep, err := loadgen.Run(ctx, cfg)
	if line != nil {
		line.stop()
	}
	if err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return exitCode(2)
	}
	summary := loadgen.Summarize(rep.Results, rep.Elapsed)
	if !*jsonOut && !*results {
		return loadgen.WriteText(stdout, summary)
	}
	enc := json.NewEncoder(stdout)
	if *results {
		for _, r := range rep.Results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	return enc.Encode(summary)
}

func readPromptsFile(path string) ([]json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return loadgen.ReadPrompts(f)
}

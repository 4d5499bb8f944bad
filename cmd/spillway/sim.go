package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/spillway-gw/spillway/sim"
	"github.com/spillway-gw/spillway/tokens"
)

// simShutdownGrace is how long in-flight simulator requests get to finish on shutdown.
const simShutdownGrace = 5 * time.Second

// runSim runs the Azure OpenAI simulator until ctx is cancelled.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "simulator config file (YAML; see docs/sim.md)")
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	verbose := fs.Bool("verbose", false, "log every request (deployment, status, request id) to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: spillway sim --config FILE [--listen ADDR] [--verbose]")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args, stderr); done {
		return err
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "sim: --config is required")
		fs.Usage()
		return exitCode(2)
	}
	cfg, err := sim.Load(*configPath)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := sim.New(cfg, sim.Options{Logger: logger, PromptCounter: simPromptCounter()})
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return fmt.Errorf("sim: listen: %w", err)
	}
	fmt.Fprintf(stdout, "spillway sim listening on %s\n", ln.Addr())
	return srv.Serve(ctx, ln, simShutdownGrace)
}

// simPromptCounter counts prompt tokens exactly, with package tokens (tiktoken's
// encodings and OpenAI's chat rules), for the deployment's model. Models that
// package does not know (and bodies it cannot count) make the simulator fall
// back to its documented approximation, sim.ApproxPromptTokens.
func simPromptCounter() sim.PromptCounter {
	var models sync.Map // model name -> *tokens.Model, or error
	return func(model string, body []byte) (int, error) {
		v, ok := models.Load(model)
		if !ok {
			m, err := tokens.LookupModel(model)
			if err != nil {
				v, _ = models.LoadOrStore(model, err)
			} else {
				v, _ = models.LoadOrStore(model, m)
			}
		}
		m, ok := v.(*tokens.Model)
		if !ok {
			return 0, v.(error)
		}
		c, err := tokens.CountChat(m, body)
		if err != nil {
			return 0, err
		}
		return c.Prompt, nil
	}
}

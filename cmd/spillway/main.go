// Command spillway is the Azure OpenAI gateway: an Envoy ext_proc server with
// its xDS control plane, a bundled Azure OpenAI simulator, and tools around them.
//
// main only wires signals; run holds the logic so tests can call it in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var exit exitCode
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		fmt.Fprintln(os.Stderr, "spillway:", err)
		os.Exit(1)
	}
}

// exitCode is returned by a subcommand that has already printed what went
// wrong and only needs the process to exit with a given status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage: spillway <command> [flags]

commands:
  serve      run the ext_proc server, the xDS control plane and the admin endpoint
  validate   check a gateway config file and print every problem
  envoy      print Envoy's bootstrap or the generated Envoy resources
  sim        run the Azure OpenAI simulator
  count      count tokens of text or of a chat-completions request
  load       send chat-completions load (open or closed loop) and report what came back
  plan       size PTU and TPM capacity for a workload and write a gateway config for it
`

// run dispatches to a subcommand. Each subcommand lives in its own file.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitCode(2)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "validate":
		return runValidate(ctx, rest, stdout, stderr)
	case "envoy":
		return runEnvoy(ctx, rest, stdout, stderr)
	case "sim":
		return runSim(ctx, rest, stdout, stderr)
	case "count":
		return runCount(ctx, rest, stdout, stderr)
	case "load":
		return runLoad(ctx, rest, stdout, stderr)
	case "plan":
		return runPlan(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "spillway: unknown command %q\n\n%s", cmd, usage)
		return exitCode(2)
	}
}

// parseFlags parses a subcommand's flags the same way for every command.
// done is true when the command must return err at once: after -h (nil),
// or after a bad flag or a stray argument (exit status 2, already printed).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, exitCode(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		fs.Usage()
		return true, exitCode(2)
	}
	return false, nil
}

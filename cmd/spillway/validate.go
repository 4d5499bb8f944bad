package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/spillway-gw/spillway/config"
)

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "spillway.yaml", "gateway config file")
	if done, err := parseFlags(fs, args, stderr); done {
		return err
	}
	if _, err := config.Load(*path); err != nil {
		printConfigErrors(stderr, *path, err)
		return exitCode(1)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return nil
}

// printConfigErrors prints one problem per line, prefixed by the file.
func printConfigErrors(w io.Writer, path string, err error) {
	problems := problemList(err)
	fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(problems))
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

// problemList flattens errors.Join'ed field errors into strings.
func problemList(err error) []string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

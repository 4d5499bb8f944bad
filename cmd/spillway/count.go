package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spillway-gw/spillway/tokens"
)

const countUsage = `usage: spillway count [flags]

Counts tokens exactly as OpenAI's tiktoken does.

  spillway count --encoding o200k_base < text.txt        tokens of the text on stdin
  spillway count --encoding cl100k_base --jsonl < in.jsonl
                                                          one count per line; each line is a
                                                          JSON object with a "text" field
  spillway count --model gpt-4o --request body.json      prompt tokens of a chat-completions
                                                          request body ("-" reads stdin)

flags:
`

// runCount is the count subcommand; it reads standard input.
func runCount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return countMain(ctx, args, os.Stdin, stdout, stderr)
}

func countMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("count", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, countUsage)
		fs.PrintDefaults()
	}
	encoding := fs.String("encoding", "", "encoding: o200k_base or cl100k_base (default: the model's, else o200k_base)")
	model := fs.String("model", "", "model whose encoding and chat rules to use, e.g. gpt-4o or gpt-35-turbo")
	jsonl := fs.Bool("jsonl", false, `read JSON lines with a "text" field and print one count per line`)
	request := fs.String("request", "", `count a chat-completions request body read from this file ("-" for stdin)`)
	details := fs.Bool("details", false, "with --request, print the whole count as JSON")
	if done, err := parseFlags(fs, args, stderr); done {
		return err
	}
	if *request != "" && *jsonl {
		fmt.Fprintln(stderr, "count: --request and --jsonl cannot be used together")
		return exitCode(2)
	}

	if *request != "" {
		return countRequest(stdin, stdout, *request, *model, *encoding, *details)
	}
	enc, err := countEncoding(*model, *encoding)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	if *jsonl {
		return countJSONL(ctx, enc, stdin, stdout)
	}
	text, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("count: read stdin: %w", err)
	}
	_, err = fmt.Fprintln(stdout, enc.Count(text))
	return err
}

// countEncoding picks the encoding from --encoding, else --model, else o200k_base.
func countEncoding(model, encoding string) (*tokens.Encoding, error) {
	switch {
	case encoding != "":
		return tokens.GetEncoding(encoding)
	case model != "":
		return tokens.EncodingForModel(model)
	}
	return tokens.GetEncoding(tokens.O200kBase)
}

func countJSONL(ctx context.Context, enc *tokens.Encoding, stdin io.Reader, stdout io.Writer) error {
	r := bufio.NewReaderSize(stdin, 1<<16)
	w := bufio.NewWriter(stdout)
	for line := 1; ; line++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := r.ReadBytes('\n')
		if len(b) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("count: read stdin: %w", err)
		}
		var obj struct {
			Text *string `json:"text"`
		}
		if jerr := json.Unmarshal(bytes.TrimSpace(b), &obj); jerr != nil || obj.Text == nil {
			w.Flush()
			return fmt.Errorf(`count: line %d: want a JSON object with a "text" string`, line)
		}
		fmt.Fprintln(w, enc.CountString(*obj.Text))
		if err == io.EOF {
			break
		}
	}
	return w.Flush()
}

func countRequest(stdin io.Reader, stdout io.Writer, path, model, encoding string, details bool) error {
	var body []byte
	var err error
	if path == "-" {
		body, err = io.ReadAll(stdin)
	} else {
		body, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	if model == "" {
		// The body names its model on OpenAI's API and Azure's v1 API.
		var m struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(body, &m)
		model = m.Model
	}
	if model == "" {
		return errors.New("count: --request needs --model (the body names no model)")
	}
	var overrides map[string]string
	if encoding != "" {
		overrides = map[string]string{model: encoding}
	}
	table, err := tokens.NewTable(overrides)
	if err != nil {
		return fmt.Errorf("count: --encoding: %w", err)
	}
	m, err := table.Lookup(model)
	if err != nil {
		return fmt.Errorf("count: %w (or pass --encoding)", err)
	}
	c, err := tokens.CountChat(m, body)
	if err != nil {
		return fmt.Errorf("count: %s: %w", path, err)
	}
	if details {
		out, err := json.MarshalIndent(struct {
			Model    string `json:"model"`
			Encoding string `json:"encoding"`
			tokens.ChatCount
		}{m.Name, m.Encoding.Name(), c}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		return err
	}
	_, err = fmt.Fprintln(stdout, c.Prompt)
	return err
}

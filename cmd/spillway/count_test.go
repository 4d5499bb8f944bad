package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	dir := t.TempDir()
	jargon, err := os.ReadFile("../../tokens/testdata/cookbook_jargon.json")
	if err != nil {
		t.Fatal(err)
	}
	noModel := filepath.Join(dir, "nomodel.json")
	if err := os.WriteFile(noModel, bytes.Replace(jargon, []byte(`"model": "gpt-4o",`), nil, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		stdin   string
		want    string
		wantErr string
	}{
		{name: "text o200k", args: []string{"--encoding", "o200k_base"}, stdin: "Hello, world!", want: "4\n"},
		{name: "text cl100k", args: []string{"--encoding", "cl100k_base"}, stdin: "<|endoftext|>", want: "7\n"},
		{name: "text by model", args: []string{"--model", "gpt-35-turbo"}, stdin: "<|endoftext|>", want: "7\n"},
		{name: "empty text", args: []string{"--encoding", "o200k_base"}, stdin: "", want: "0\n"},
		{
			name: "jsonl", args: []string{"--encoding", "o200k_base", "--jsonl"},
			stdin: "{\"text\":\"Hello, world!\"}\n{\"text\":\"\"}\n{\"id\":1, \"text\":\"<|endoftext|>\"}",
			want:  "4\n0\n7\n",
		},
		{name: "jsonl bad line", args: []string{"--jsonl"}, stdin: "{\"text\":\"a\"}\nnot json\n", want: "1\n", wantErr: "line 2"},
		{name: "jsonl missing text", args: []string{"--jsonl"}, stdin: "{\"txt\":\"a\"}\n", wantErr: "line 1"},
		{name: "request cl100k", args: []string{"--model", "gpt-4", "--request", "../../tokens/testdata/cookbook_jargon.json"}, want: "129\n"},
		{name: "request o200k", args: []string{"--model", "gpt-4o", "--request", "../../tokens/testdata/cookbook_jargon.json"}, want: "124\n"},
		{name: "request model from body", args: []string{"--request", "../../tokens/testdata/cookbook_tools.json"}, want: "101\n"},
		{name: "request stdin", args: []string{"--model", "gpt-35-turbo", "--request", "-"}, stdin: string(jargon), want: "129\n"},
		{name: "request no model", args: []string{"--request", noModel}, wantErr: "needs --model"},
		{name: "request unknown model", args: []string{"--model", "my-model", "--request", noModel}, wantErr: "unknown model"},
		{name: "request override", args: []string{"--model", "my-model", "--encoding", "cl100k_base", "--request", noModel}, want: "129\n"},
		{name: "request bad body", args: []string{"--model", "gpt-4o", "--request", "-"}, stdin: `{"messages":"x"}`, wantErr: "messages: must be an array"},
		{name: "request missing file", args: []string{"--model", "gpt-4o", "--request", filepath.Join(dir, "nope.json")}, wantErr: "no such file"},
		{name: "unknown encoding", args: []string{"--encoding", "p50k_base"}, wantErr: "unknown encoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := countMain(context.Background(), tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v (stderr %q)", err, stderr.String())
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if stdout.String() != tc.want {
				t.Errorf("stdout = %q, want %q", stdout.String(), tc.want)
			}
		})
	}
}

func TestCountUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown flag":      {"--nope"},
		"stray argument":    {"file.txt"},
		"request and jsonl": {"--request", "x.json", "--jsonl"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"count"}, args...), &stdout, &stderr)
			var code exitCode
			if !errors.As(err, &code) || code != 2 {
				t.Fatalf("err = %v, want exit status 2", err)
			}
			if stderr.Len() == 0 {
				t.Error("nothing on stderr")
			}
		})
	}
}

func TestRunCountRequestFile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"count", "--model", "gpt-4o-mini", "--request", "../../tokens/testdata/cookbook_tools.json"}, &stdout, &stderr)
	if err != nil || stdout.String() != "101\n" {
		t.Fatalf("run = %v, stdout %q", err, stdout.String())
	}
}

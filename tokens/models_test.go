package tokens

import (
	"errors"
	"strings"
	"testing"
)

func TestLookupModel(t *testing.T) {
	cases := []struct {
		name, encoding, family string
		funcInit, perMessage   int
	}{
		{"gpt-4o", O200kBase, "gpt-4o", 7, 3},
		{"gpt-4o-2024-08-06", O200kBase, "gpt-4o", 7, 3},
		{"GPT-4o-mini", O200kBase, "gpt-4o-mini", 7, 3},
		{"gpt-4o-mini-2024-07-18", O200kBase, "gpt-4o-mini", 7, 3},
		{"chatgpt-4o-latest", O200kBase, "chatgpt-4o", 7, 3},
		{"gpt-4.1", O200kBase, "gpt-4.1", 7, 3},
		{"gpt-4.1-2025-04-14", O200kBase, "gpt-4.1", 7, 3},
		{"gpt-4.1-mini", O200kBase, "gpt-4.1-mini", 7, 3},
		{"gpt-4.1-nano-2025-04-14", O200kBase, "gpt-4.1-nano", 7, 3},
		{"gpt-4.5-preview", O200kBase, "gpt-4.5", 7, 3},
		{"gpt-5", O200kBase, "gpt-5", 7, 3},
		{"gpt-5-2025-08-07", O200kBase, "gpt-5", 7, 3},
		{"gpt-5-mini", O200kBase, "gpt-5-mini", 7, 3},
		{"gpt-5-chat-latest", O200kBase, "gpt-5-chat", 7, 3},
		{"gpt-5.1", O200kBase, "gpt-5.", 7, 3},
		{"o1", O200kBase, "o1", 7, 3},
		{"o1-mini-2024-09-12", O200kBase, "o1", 7, 3},
		{"o3-mini", O200kBase, "o3", 7, 3},
		{"o4-mini-2025-04-16", O200kBase, "o4-mini", 7, 3},
		{"gpt-oss-120b", O200kBase, "gpt-oss", 7, 3},
		{"gpt-4", Cl100kBase, "gpt-4", 10, 3},
		{"gpt-4-0613", Cl100kBase, "gpt-4", 10, 3},
		{"gpt-4-32k", Cl100kBase, "gpt-4", 10, 3},
		{"gpt-4-turbo-2024-04-09", Cl100kBase, "gpt-4", 10, 3},
		{"gpt-35-turbo", Cl100kBase, "gpt-35-turbo", 10, 3},
		{"gpt-35-turbo-16k", Cl100kBase, "gpt-35-turbo", 10, 3},
		{"gpt-35-turbo-0301", Cl100kBase, "gpt-35-turbo-0301", 10, 4},
		{"gpt-3.5-turbo-0125", Cl100kBase, "gpt-3.5-turbo", 10, 3},
		{"text-embedding-3-small", Cl100kBase, "text-embedding-3", 10, 3},
		{"ft:gpt-4o-mini-2024-07-18:acme::abc123", O200kBase, "gpt-4o-mini", 7, 3},
		{"openai/gpt-4.1", O200kBase, "gpt-4.1", 7, 3},
		{" azure/gpt-35-turbo ", Cl100kBase, "gpt-35-turbo", 10, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LookupModel(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if m.Encoding.Name() != tc.encoding || m.Family != tc.family || m.Tools.FuncInit != tc.funcInit || m.PerMessage != tc.perMessage {
				t.Errorf("got encoding %s family %q func_init %d per-message %d; want %s %q %d %d",
					m.Encoding.Name(), m.Family, m.Tools.FuncInit, m.PerMessage, tc.encoding, tc.family, tc.funcInit, tc.perMessage)
			}
			enc, err := EncodingForModel(tc.name)
			if err != nil || enc != m.Encoding {
				t.Errorf("EncodingForModel = %v, %v", enc, err)
			}
		})
	}
}

func TestLookupModelUnknown(t *testing.T) {
	for _, name := range []string{"", "gpt", "gpt-4x", "o2", "llama-3", "gpt-4oo", "davinci-002"} {
		t.Run(name, func(t *testing.T) {
			if _, err := LookupModel(name); !errors.Is(err, ErrUnknownModel) {
				t.Errorf("err = %v, want ErrUnknownModel", err)
			}
		})
	}
}

func TestTableOverrides(t *testing.T) {
	tbl, err := NewTable(map[string]string{"my-finetune": O200kBase, "gpt-4": O200kBase, "legacy-35": Cl100kBase})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, encoding string
		funcInit       int
	}{
		{"my-finetune", O200kBase, 7},
		{"MY-FINETUNE", O200kBase, 7},
		{"legacy-35", Cl100kBase, 10},
		{"gpt-4", O200kBase, 10},       // the family's rules, the override's encoding
		{"gpt-4-0613", Cl100kBase, 10}, // overrides are exact names
		{"gpt-4o", O200kBase, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tbl.Lookup(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if m.Encoding.Name() != tc.encoding || m.Tools.FuncInit != tc.funcInit {
				t.Errorf("got %s func_init %d, want %s %d", m.Encoding.Name(), m.Tools.FuncInit, tc.encoding, tc.funcInit)
			}
		})
	}
	if _, err := tbl.Lookup("other"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("err = %v, want ErrUnknownModel", err)
	}
}

func TestNewTableReportsEveryBadEntry(t *testing.T) {
	_, err := NewTable(map[string]string{"a": "p50k_base", "b": "o200k", "c": O200kBase, "": Cl100kBase})
	if !errors.Is(err, ErrUnknownEncoding) {
		t.Fatalf("err = %v, want ErrUnknownEncoding", err)
	}
	for _, want := range []string{`model "a"`, `model "b"`, `model ""`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

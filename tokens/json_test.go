package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// The parser must accept exactly what encoding/json accepts and decode the
// same values (on valid UTF-8; invalid bytes are kept for Count to replace).
func checkParseJSON(t *testing.T, b []byte) {
	t.Helper()
	v, err := parseJSON(b)
	if errors.Is(err, errJSONDepth) {
		return
	}
	if valid := json.Valid(b); (err == nil) != valid {
		t.Fatalf("parseJSON(%q) error %v, json.Valid %v", b, err, valid)
	}
	if err != nil || !utf8.Valid(b) {
		return
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var want any
	if err := d.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if got := v.toAny(); !reflect.DeepEqual(got, want) {
		t.Fatalf("parseJSON(%q) = %#v, encoding/json %#v", b, got, want)
	}
}

var jsonSeeds = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.0E-3`, `true`, `false`, `null`, ` {"a" : [1, {"b":null}] } `,
	`"\u00e9\ud83d\ude00\n\t\"\\\/"`, `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\ud83d\ude00\ud83d"`,
	`{"a":1,"a":2}`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `"a`, "\"\x01\"", `"\x"`, `"\u12"`,
	`{"a" 1}`, `{1:2}`, `[1 2]`, `tru`, `nul`, `{} {}`, "\"\xff\"", `[` + strings.Repeat(`[`, 50) + strings.Repeat(`]`, 51),
}

func TestParseJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		t.Run(s, func(t *testing.T) { checkParseJSON(t, []byte(s)) })
	}
	deep := strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2)
	if _, err := parseJSON([]byte(deep)); !errors.Is(err, errJSONDepth) {
		t.Errorf("deep nesting: err = %v, want errJSONDepth", err)
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParseJSON)
}

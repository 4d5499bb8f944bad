package openai

import (
	"encoding/json"
	"testing"
)

func TestSetModel(t *testing.T) {
	tests := []struct {
		name, body, model, want string
		wantErr                 bool
	}{
		{name: "first", body: `{"model":"gpt-4o","input":"hi"}`, model: "dep-2", want: `{"model":"dep-2","input":"hi"}`},
		{name: "spaces kept", body: "{ \"input\" : [1, 2],\n \"model\" :  \"gpt-4o\" , \"store\":false}", model: "d", want: "{ \"input\" : [1, 2],\n \"model\" :  \"d\" , \"store\":false}"},
		{name: "nested model untouched", body: `{"tools":[{"model":"x"}],"model":"m"}`, model: "d", want: `{"tools":[{"model":"x"}],"model":"d"}`},
		{name: "escaped value", body: `{"model":"a\"b"}`, model: `q"r`, want: `{"model":"q\"r"}`},
		{name: "no model", body: `{"input":"hi"}`, model: "d", wantErr: true},
		{name: "model not a string", body: `{"model":5}`, model: "d", wantErr: true},
		{name: "not an object", body: `["model"]`, model: "d", wantErr: true},
		{name: "malformed", body: `{"model":`, model: "d", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetModel([]byte(tt.body), tt.model)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
		})
	}
}

func FuzzSetModel(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o","input":"hi"}`), "dep")
	f.Add([]byte(`{"a":{"model":1},"model":"x"}`), "d\u00e9p")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, err := SetModel(body, model)
		if err != nil {
			return
		}
		if json.Valid(body) && !json.Valid(out) {
			t.Fatalf("valid input %q gave invalid output %q", body, out)
		}
	})
}

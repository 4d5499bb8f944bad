package tokens

import (
	"errors"
	"testing"
)

func TestCountInputs(t *testing.T) {
	m := mustModel(t, "gpt-4o")
	hello, world := m.Encoding.CountString("hello there"), m.Encoding.CountString("the world, again")
	tests := []struct {
		name    string
		body    string
		want    int
		wantErr bool
	}{
		{name: "string", body: `{"input":"hello there"}`, want: hello},
		{name: "strings", body: `{"input":["hello there","the world, again"]}`, want: hello + world},
		{name: "token ids", body: `{"input":[1,2,3,4,5]}`, want: 5},
		{name: "token arrays", body: `{"input":[[1,2,3],[4],[5,6]],"dimensions":256}`, want: 6},
		{name: "empty string", body: `{"input":""}`, want: 0},
		{name: "missing", body: `{"model":"x"}`, wantErr: true},
		{name: "object", body: `{"input":{"text":"x"}}`, wantErr: true},
		{name: "array of objects", body: `{"input":[{"text":"x"}]}`, wantErr: true},
		{name: "token array with a string", body: `{"input":[[1,"a"]]}`, wantErr: true},
		{name: "not an object", body: `[]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CountEmbeddings(m, []byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidRequest) {
					t.Fatalf("err = %v, want ErrInvalidRequest", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CountEmbeddings = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestCountCompletion(t *testing.T) {
	m := mustModel(t, "gpt-35-turbo-instruct")
	p := m.Encoding.CountString("Say this is a test")
	tests := []struct {
		name            string
		body            string
		prompt, arrival int
		wantErr         bool
	}{
		{name: "string, default max", body: `{"prompt":"Say this is a test"}`, prompt: p, arrival: p + 16},
		{name: "array, max_tokens", body: `{"prompt":["Say this is a test","Say this is a test"],"max_tokens":7}`, prompt: 2 * p, arrival: 2*p + 7},
		{name: "token ids, n", body: `{"prompt":[10,11,12],"max_tokens":5,"n":3}`, prompt: 3, arrival: 3 + 15},
		{name: "best_of over n", body: `{"prompt":[[1,2],[3]],"max_tokens":4,"n":2,"best_of":5}`, prompt: 3, arrival: 3 + 20},
		{name: "missing prompt", body: `{"max_tokens":5}`, wantErr: true},
		{name: "bad max_tokens", body: `{"prompt":"x","max_tokens":"5"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CountCompletion(m, []byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidRequest) {
					t.Fatalf("err = %v, want ErrInvalidRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Prompt != tt.prompt || c.Arrival(16) != tt.arrival {
				t.Fatalf("prompt %d, arrival %d; want %d, %d", c.Prompt, c.Arrival(16), tt.prompt, tt.arrival)
			}
		})
	}
}

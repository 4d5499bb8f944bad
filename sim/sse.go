package sim

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// errStreamReset means the stream was cut by a reset-mid-stream fault.
var errStreamReset = errors.New("stream reset by fault")

// resetMidStreamEvents is how many SSE events a reset-mid-stream fault lets through.
const resetMidStreamEvents = 3

// stream is one chat-completions response in Azure's SSE shape:
//
//  1. a prompt-filter event with empty id, model and choices;
//  2. per choice, a delta with role "assistant" and empty content;
//  3. content deltas, one token each, paced by the latency model;
//  4. per choice, an empty delta with finish_reason;
//  5. with stream_options.include_usage, a usage event with empty choices
//     (other events then carry "usage":null);
//  6. data: [DONE].
type stream struct {
	meta         responseMeta
	n            int64
	tokens       int64 // per choice
	finish       string
	prompt       int64
	includeUsage bool
	text         textSource

	clock      Clock
	firstToken time.Duration
	perToken   time.Duration // 0 = no pacing
	resetAfter int           // > 0: cut the connection after this many events
}

// write sends the stream. It returns how many completion tokens (all choices)
// reached the client, and errStreamReset, the context's error or a write error
// when the stream did not finish.
func (s *stream) write(ctx context.Context, w http.ResponseWriter, hijack func() error) (int64, error) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	buf := make([]byte, 0, 1024)
	events := 0
	var sent int64
	emit := func(payload func([]byte) []byte) error {
		if s.resetAfter > 0 && events >= s.resetAfter {
			if err := hijack(); err != nil {
				return err
			}
			return errStreamReset
		}
		buf = append(buf[:0], "data: "...)
		buf = payload(buf)
		buf = append(buf, "\n\n"...)
		events++
		_, err := w.Write(buf)
		return err
	}
	flushAndSleep := func(d time.Duration) error {
		if err := rc.Flush(); err != nil {
			return err
		}
		return s.clock.Sleep(ctx, d)
	}

	if err := emit(s.promptFilterEvent); err != nil {
		return sent, err
	}
	if err := flushAndSleep(s.firstToken); err != nil {
		return sent, err
	}
	start := s.clock.Now()
	for i := range s.n {
		if err := emit(func(b []byte) []byte { return s.roleEvent(b, i) }); err != nil {
			return sent, err
		}
	}
	for k := range s.tokens {
		if s.perToken > 0 {
			due := start.Add(time.Duration(k) * s.perToken)
			if wait := due.Sub(s.clock.Now()); wait >= time.Millisecond {
				if err := flushAndSleep(wait); err != nil {
					return sent, err
				}
			}
		}
		for i := range s.n {
			word := s.text.word()
			if err := emit(func(b []byte) []byte { return s.contentEvent(b, i, word) }); err != nil {
				return sent, err
			}
			sent++
		}
	}
	for i := range s.n {
		if err := emit(func(b []byte) []byte { return s.finishEvent(b, i) }); err != nil {
			return sent, err
		}
	}
	if s.includeUsage {
		if err := emit(s.usageEvent); err != nil {
			return sent, err
		}
	}
	if err := emit(func(b []byte) []byte { return append(b, "[DONE]"...) }); err != nil {
		return sent, err
	}
	return sent, rc.Flush()
}

func (s *stream) promptFilterEvent(b []byte) []byte {
	b = append(b, `{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":`...)
	b = append(b, promptFilterResults...)
	return append(b, '}')
}

func (s *stream) chunkHead(b []byte) []byte {
	return append(b, `{"choices":[`...)
}

// chunkTail closes a chunk's choices and adds the shared fields.
func (s *stream) chunkTail(b []byte) []byte {
	b = append(b, `],"created":`...)
	b = strconv.AppendInt(b, s.meta.created, 10)
	b = append(b, `,"id":"`...)
	b = append(b, s.meta.id...)
	b = append(b, `","model":`...)
	b = append(b, s.meta.modelJSON...)
	b = append(b, `,"object":"chat.completion.chunk","system_fingerprint":`...)
	b = append(b, systemFingerprint...)
	if s.includeUsage {
		b = append(b, `,"usage":null`...)
	}
	return append(b, '}')
}

func (s *stream) roleEvent(b []byte, i int64) []byte {
	b = s.chunkHead(b)
	b = append(b, `{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `,"logprobs":null}`...)
	return s.chunkTail(b)
}

func (s *stream) contentEvent(b []byte, i int64, word string) []byte {
	b = s.chunkHead(b)
	b = append(b, `{"content_filter_results":`...)
	b = append(b, contentFilterOK...)
	b = append(b, `,"delta":{"content":"`...)
	b = append(b, word...)
	b = append(b, `"},"finish_reason":null,"index":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `,"logprobs":null}`...)
	return s.chunkTail(b)
}

func (s *stream) finishEvent(b []byte, i int64) []byte {
	b = s.chunkHead(b)
	b = append(b, `{"content_filter_results":{},"delta":{},"finish_reason":"`...)
	b = append(b, s.finish...)
	b = append(b, `","index":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `,"logprobs":null}`...)
	return s.chunkTail(b)
}

func (s *stream) usageEvent(b []byte) []byte {
	b = append(b, `{"choices":[],"created":`...)
	b = strconv.AppendInt(b, s.meta.created, 10)
	b = append(b, `,"id":"`...)
	b = append(b, s.meta.id...)
	b = append(b, `","model":`...)
	b = append(b, s.meta.modelJSON...)
	b = append(b, `,"object":"chat.completion.chunk","system_fingerprint":`...)
	b = append(b, systemFingerprint...)
	b = append(b, `,"usage":`...)
	b = appendUsage(b, s.prompt, s.tokens*s.n)
	return append(b, '}')
}

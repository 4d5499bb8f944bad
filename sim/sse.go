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
//
// With the asynchronous content filter, content deltas carry no filter
// results; instead, annotation-only events (empty id and model, a choice with
// content_filter_results and content_filter_offsets) follow every
// asyncFilterEvery tokens of a choice, and a last one per choice follows the
// finish events.
type stream struct {
	meta         responseMeta
	n            int64
	tokens       int64 // per choice
	finish       string
	prompt       int64
	cached       int64 // prompt tokens served from the prompt cache
	includeUsage bool
	text         textSource

	clock      Clock
	firstToken time.Duration
	perToken   time.Duration // 0 = no pacing
	resetAfter int           // > 0: cut the connection after this many events
	async      bool          // asynchronous content filter annotations

	// complete runs just before the final data: [DONE] is written, so the
	// ledger counts the response before the client can see its end.
	complete func()

	chars   []int64 // per choice: content characters sent
	checked []int64 // per choice: characters covered by annotations so far
}

// asyncFilterEvery is how many tokens of a choice one asynchronous filter annotation covers.
const asyncFilterEvery = 10

// write sends the stream. It returns how many completion tokens (all choices)
// reached the client, and errStreamReset, the context's error or a write error
// when the stream did not finish. reset is called, with the tokens sent so far,
// when a reset-mid-stream fault cuts the stream.
func (s *stream) write(ctx context.Context, w http.ResponseWriter, reset func(sent int64) error) (int64, error) {
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
			if err := reset(sent); err != nil {
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
	s.chars, s.checked = make([]int64, s.n), make([]int64, s.n)
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
			s.chars[i] += int64(len(word))
			sent++
		}
		if s.async && (k+1)%asyncFilterEvery == 0 {
			for i := range s.n {
				if err := emit(func(b []byte) []byte { return s.annotationEvent(b, i) }); err != nil {
					return sent, err
				}
			}
		}
	}
	for i := range s.n {
		if err := emit(func(b []byte) []byte { return s.finishEvent(b, i) }); err != nil {
			return sent, err
		}
	}
	if s.async {
		for i := range s.n {
			if err := emit(func(b []byte) []byte { return s.annotationEvent(b, i) }); err != nil {
				return sent, err
			}
		}
	}
	if s.includeUsage {
		if err := emit(s.usageEvent); err != nil {
			return sent, err
		}
	}
	if s.complete != nil {
		s.complete()
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
	if s.async {
		b = append(b, `{"delta":{"content":"`...)
	} else {
		b = append(b, `{"content_filter_results":`...)
		b = append(b, contentFilterOK...)
		b = append(b, `,"delta":{"content":"`...)
	}
	b = append(b, word...)
	b = append(b, `"},"finish_reason":null,"index":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `,"logprobs":null}`...)
	return s.chunkTail(b)
}

// annotationEvent is an asynchronous filter annotation for choice i: it covers
// the characters of the choice's content sent since the previous annotation.
func (s *stream) annotationEvent(b []byte, i int64) []byte {
	b = append(b, `{"choices":[{"content_filter_offsets":{"check_offset":`...)
	b = strconv.AppendInt(b, s.checked[i], 10)
	b = append(b, `,"start_offset":`...)
	b = strconv.AppendInt(b, s.checked[i], 10)
	b = append(b, `,"end_offset":`...)
	b = strconv.AppendInt(b, s.chars[i], 10)
	b = append(b, `},"content_filter_results":`...)
	b = append(b, completionFilterResults(s.finish)...)
	b = append(b, `,"finish_reason":null,"index":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `}],"created":0,"id":"","model":"","object":""}`...)
	s.checked[i] = s.chars[i]
	return b
}

func (s *stream) finishEvent(b []byte, i int64) []byte {
	b = s.chunkHead(b)
	b = append(b, `{"content_filter_results":`...)
	if s.finish == finishContentFilter && !s.async {
		b = append(b, contentFilterHit...)
	} else {
		b = append(b, `{}`...)
	}
	b = append(b, `,"delta":{},"finish_reason":"`...)
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
	b = appendUsage(b, s.prompt, s.cached, s.tokens*s.n)
	return append(b, '}')
}

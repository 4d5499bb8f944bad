package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spillway-gw/spillway/azure"
)

// The Responses API (POST /openai/v1/responses and the /responses/{id}
// routes). Azure serves it on the v1 surface only, the deployment named by
// the body's model. Responses are stored (store: true, the default) on the
// resource that created them: here, per deployment. A request continuing a
// response (previous_response_id), or reading, cancelling or deleting one,
// that reaches a deployment without it gets 404, as a misrouted request to
// another Azure resource does.

// responsesRequest is what the simulator needs from a Responses body.
type responsesRequest struct {
	model      string
	previousID string
	store      bool
	stream     bool
	maxOutput  int64 // 0 when unset
	// chat is the request as the chat-completions body it stands for
	// (instructions a system message, input items messages, function
	// tools wrapped), for the prompt counter.
	chat []byte
	// input is the input items as sent (a string input becomes one user
	// message item), for GET /responses/{id}/input_items.
	input []json.RawMessage
}

type responsesBody struct {
	Model              *string         `json:"model"`
	Instructions       *string         `json:"instructions"`
	Input              json.RawMessage `json:"input"`
	PreviousResponseID *string         `json:"previous_response_id"`
	Store              *bool           `json:"store"`
	Stream             *bool           `json:"stream"`
	MaxOutputTokens    *int64          `json:"max_output_tokens"`
	Tools              []struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"tools"`
}

// responseItem is an input item in the forms the simulator reads.
type responseItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	// function_call and function_call_output
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Output    string `json:"output"`
}

type responsePart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
	Detail   string          `json:"detail"`
}

func parseResponsesRequest(body []byte) (responsesRequest, *azure.Error) {
	var in responsesBody
	if err := decodeJSON(body, &in); err != nil {
		return responsesRequest{}, err
	}
	r := responsesRequest{store: true}
	if in.Model != nil {
		r.model = *in.Model
	}
	if in.PreviousResponseID != nil {
		r.previousID = *in.PreviousResponseID
	}
	if in.Store != nil {
		r.store = *in.Store
	}
	r.stream = in.Stream != nil && *in.Stream
	if in.MaxOutputTokens != nil {
		if *in.MaxOutputTokens < 1 {
			return r, azure.BadRequest(fmt.Sprintf("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", *in.MaxOutputTokens), "max_output_tokens")
		}
		r.maxOutput = *in.MaxOutputTokens
	}
	var msgs []chatMsg
	if in.Instructions != nil {
		msgs = append(msgs, chatMsg{"system", *in.Instructions})
	}
	raw := bytes.TrimSpace(in.Input)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		if r.previousID == "" {
			return r, azure.BadRequest("Missing required parameter: 'input'.", "input")
		}
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return r, invalidType("input", "a string or an array of input items")
		}
		msgs = append(msgs, chatMsg{"user", s})
		item, _ := json.Marshal(map[string]any{"type": "message", "role": "user", "content": []any{map[string]string{"type": "input_text", "text": s}}})
		r.input = []json.RawMessage{item}
	case raw[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return r, invalidType("input", "an array of input items")
		}
		for i, it := range items {
			var item responseItem
			if err := json.Unmarshal(it, &item); err != nil {
				return r, invalidType(fmt.Sprintf("input[%d]", i), "an input item object")
			}
			m, err := itemAsMessage(item, fmt.Sprintf("input[%d]", i))
			if err != nil {
				return r, err
			}
			msgs = append(msgs, m)
		}
		r.input = items
	default:
		return r, invalidType("input", "a string or an array of input items")
	}
	chat := map[string]any{"messages": msgs}
	var tools []any
	for _, t := range in.Tools {
		if t.Type != "function" {
			continue
		}
		fn := map[string]any{"name": t.Name, "description": t.Description}
		if len(t.Parameters) > 0 {
			fn["parameters"] = t.Parameters
		}
		tools = append(tools, map[string]any{"type": "function", "function": fn})
	}
	if len(tools) > 0 {
		chat["tools"] = tools
	}
	r.chat, _ = json.Marshal(chat)
	return r, nil
}

// chatMsg is a chat message built from a Responses input, for counting.
type chatMsg struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

// itemAsMessage turns an input item into the chat message it stands for.
func itemAsMessage(item responseItem, path string) (chatMsg, *azure.Error) {
	switch item.Type {
	case "", "message":
		if item.Role == "" {
			return chatMsg{}, azure.BadRequest(fmt.Sprintf("Missing required parameter: '%s.role'.", path), path+".role")
		}
		c := bytes.TrimSpace(item.Content)
		if len(c) > 0 && c[0] == '"' {
			var s string
			_ = json.Unmarshal(c, &s)
			return chatMsg{item.Role, s}, nil
		}
		var parts []responsePart
		if err := json.Unmarshal(c, &parts); err != nil {
			return chatMsg{}, invalidType(path+".content", "a string or an array of content parts")
		}
		var out []any
		for _, p := range parts {
			switch p.Type {
			case "input_text", "output_text", "text":
				out = append(out, map[string]string{"type": "text", "text": p.Text})
			case "input_image":
				var url string
				_ = json.Unmarshal(p.ImageURL, &url)
				out = append(out, map[string]any{"type": "image_url", "image_url": map[string]string{"url": url, "detail": p.Detail}})
			}
		}
		return chatMsg{item.Role, out}, nil
	case "function_call":
		return chatMsg{"assistant", item.Name + " " + item.Arguments}, nil
	case "function_call_output":
		return chatMsg{"tool", item.Output}, nil
	}
	return chatMsg{"user", ""}, nil
}

// storedResponse is a response a deployment keeps.
type storedResponse struct {
	body []byte // the response object as last returned
	// context is the tokens a continuation carries in: this response's
	// input and output (which include its own predecessors').
	context int64
	input   []json.RawMessage
}

// responseStore is one deployment's stored responses, bounded: past
// maxStoredResponses the oldest are forgotten.
type responseStore struct {
	mu    sync.Mutex
	m     map[string]*storedResponse
	order []string
}

const maxStoredResponses = 10000

func (s *responseStore) get(id string) (*storedResponse, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	return r, ok
}

func (s *responseStore) put(id string, r *storedResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*storedResponse{}
	}
	if _, ok := s.m[id]; !ok {
		s.order = append(s.order, id)
	}
	s.m[id] = r
	for len(s.m) > maxStoredResponses {
		delete(s.m, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *responseStore) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	delete(s.m, id)
	return ok
}

// errResponseNotFound is the 404 for a response this deployment does not have.
func errResponseNotFound(id, param string) *azure.Error {
	e := &azure.Error{Status: http.StatusNotFound, Code: "404", Type: "invalid_request_error",
		Message: fmt.Sprintf("Response with id '%s' not found.", id)}
	if param != "" {
		e.Param = &param
	}
	return e
}

// responseID returns "resp_" and 40 hex digits derived from draw.
func responseID(draw uint64) string {
	return fmt.Sprintf("resp_%016x%016x%08x", splitmix(draw), splitmix(draw+1), uint32(splitmix(draw+2)))
}

// responseObject is a Responses API response body.
type responseObject struct {
	ID                 string           `json:"id"`
	Object             string           `json:"object"`
	CreatedAt          int64            `json:"created_at"`
	Status             string           `json:"status"`
	Model              string           `json:"model"`
	Output             []map[string]any `json:"output"`
	PreviousResponseID *string          `json:"previous_response_id"`
	Store              bool             `json:"store"`
	ParallelToolCalls  bool             `json:"parallel_tool_calls"`
	ToolChoice         string           `json:"tool_choice"`
	Tools              []any            `json:"tools"`
	Text               map[string]any   `json:"text"`
	Truncation         string           `json:"truncation"`
	Error              any              `json:"error"`
	IncompleteDetails  any              `json:"incomplete_details"`
	Metadata           map[string]any   `json:"metadata"`
	Usage              *responseUsage   `json:"usage"`
}

type responseUsage struct {
	InputTokens         int64            `json:"input_tokens"`
	InputTokensDetails  map[string]int64 `json:"input_tokens_details"`
	OutputTokens        int64            `json:"output_tokens"`
	OutputTokensDetails map[string]int64 `json:"output_tokens_details"`
	TotalTokens         int64            `json:"total_tokens"`
}

func (c *call) serveResponses(body []byte, draw uint64, plan faultPlan) {
	s, d := c.s, c.d
	req, perr := parseResponsesRequest(body)
	if perr != nil {
		c.fail(perr)
		return
	}
	var carried int64
	if req.previousID != "" {
		prev, ok := d.responses.get(req.previousID)
		if !ok {
			c.fail(errResponseNotFound(req.previousID, "previous_response_id"))
			return
		}
		carried = prev.context
	}
	prompt := int64(-1)
	if s.count != nil {
		if n, err := s.count(d.cfg.Model, req.chat); err == nil && n >= 0 {
			prompt = int64(n)
		}
	}
	cr, crErr := parseChatRequest(req.chat)
	if prompt < 0 {
		if crErr != nil {
			prompt = approxTextTokens(len(req.chat))
		} else {
			prompt = approxChatTokens(&cr)
		}
	}
	prompt += carried
	if requested := prompt + req.maxOutput; requested > d.cfg.ContextWindow {
		c.fail(azure.ContextLengthExceeded(int(d.cfg.ContextWindow), int(requested)))
		return
	}
	maxTokens := req.maxOutput
	if maxTokens == 0 {
		maxTokens = d.cfg.MissingMaxTokens
	}
	cost := d.arrivalCost(prompt, maxTokens)
	var prefixes []uint64
	if d.cache != nil && crErr == nil {
		prefixes = chatPrefixes(&cr, prompt, req.previousID, carried)
	}
	st, ok := c.admit(cost)
	if !ok {
		return
	}
	cached := d.cached(s.clock.Now(), prefixes)
	tokens, finish := completionLength(&d.cfg.Completion, req.maxOutput, draw)
	text := string(newTextSource(draw).appendText(nil, tokens))
	now := s.clock.Now()
	resp := responseObject{
		ID: responseID(draw), Object: "response", CreatedAt: now.Unix(), Status: "completed", Model: d.cfg.Model,
		Store: req.store, ParallelToolCalls: true, ToolChoice: "auto", Tools: []any{}, Truncation: "disabled",
		Text: map[string]any{"format": map[string]string{"type": "text"}}, Metadata: map[string]any{},
	}
	if finish == finishLength {
		resp.Status, resp.IncompleteDetails = "incomplete", map[string]string{"reason": "max_output_tokens"}
	}
	if req.previousID != "" {
		resp.PreviousResponseID = &req.previousID
	}
	msgID := "msg_" + resp.ID[5:]
	message := func(status, text string) map[string]any {
		return map[string]any{"type": "message", "id": msgID, "status": status, "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
	}
	usage := &responseUsage{InputTokens: prompt, InputTokensDetails: map[string]int64{"cached_tokens": cached},
		OutputTokens: tokens, OutputTokensDetails: map[string]int64{"reasoning_tokens": 0}, TotalTokens: prompt + tokens}
	firstToken := time.Duration(d.cfg.Latency.FirstTokenMs) * time.Millisecond
	var perToken time.Duration
	if tps := d.cfg.Latency.TokensPerSecond; tps > 0 {
		perToken = time.Duration(float64(time.Second) / tps)
	}
	complete := func() []byte {
		resp.Output, resp.Usage = []map[string]any{message("completed", text)}, usage
		out, _ := json.Marshal(resp)
		if req.store {
			d.responses.put(resp.ID, &storedResponse{body: out, context: prompt + tokens, input: req.input})
		}
		return out
	}
	c.setStateHeaders(st)
	ctx := c.r.Context()

	if req.stream {
		c.streamResponse(&resp, message, complete, text, tokens, firstToken, perToken, plan, cost, prompt, cached)
		return
	}
	if err := s.clock.Sleep(ctx, firstToken+time.Duration(tokens)*perToken); err != nil {
		d.settle(s.clock.Now(), cost, prompt, cached, 0, false)
		c.record(statusClientClosed)
		return
	}
	out := complete()
	if plan.terminal.kind == faultResetMidStream {
		d.settle(s.clock.Now(), cost, prompt, cached, 0, false)
		c.reset(out)
		return
	}
	d.settle(s.clock.Now(), cost, prompt, cached, tokens, true)
	if d.bucket != nil {
		c.setStateHeaders(d.state(s.clock.Now()))
	}
	c.record("200")
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(out)
}

// streamResponse sends a response as Responses API events: created,
// in_progress, the output item and its text part opened, one delta per
// token, the text and item closed, completed (with usage).
func (c *call) streamResponse(resp *responseObject, message func(status, text string) map[string]any, complete func() []byte,
	text string, tokens int64, firstToken, perToken time.Duration, plan faultPlan, cost, prompt, cached int64) {
	s, d := c.s, c.d
	ctx := c.r.Context()
	rc := http.NewResponseController(c.w)
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	c.w.WriteHeader(http.StatusOK)
	seq, sent := 0, int64(0)
	fail := func(status string) {
		d.settle(s.clock.Now(), cost, prompt, cached, sent, false)
		c.record(status)
	}
	emit := func(typ string, fields map[string]any) bool {
		if plan.terminal.kind == faultResetMidStream && seq >= resetMidStreamEvents {
			fail("reset")
			_ = c.resetStream()
			return false
		}
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		b, _ := json.Marshal(fields)
		_, err := fmt.Fprintf(c.w, "event: %s\ndata: %s\n\n", typ, b)
		if err != nil {
			fail(statusClientClosed)
			return false
		}
		return true
	}
	pending := *resp
	pending.Status, pending.Output, pending.IncompleteDetails = "in_progress", []map[string]any{}, nil
	if !emit("response.created", map[string]any{"response": pending}) || !emit("response.in_progress", map[string]any{"response": pending}) {
		return
	}
	if err := rc.Flush(); err != nil || s.clock.Sleep(ctx, firstToken) != nil {
		fail(statusClientClosed)
		return
	}
	item := message("in_progress", "")
	item["content"] = []any{}
	if !emit("response.output_item.added", map[string]any{"output_index": 0, "item": item}) ||
		!emit("response.content_part.added", map[string]any{"item_id": item["id"], "output_index": 0, "content_index": 0,
			"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}}) {
		return
	}
	words := strings.SplitAfter(text, " ")
	start := s.clock.Now()
	for k, w := range words {
		if w == "" {
			continue
		}
		if perToken > 0 {
			if wait := start.Add(time.Duration(k) * perToken).Sub(s.clock.Now()); wait >= time.Millisecond {
				if rc.Flush() != nil || s.clock.Sleep(ctx, wait) != nil {
					fail(statusClientClosed)
					return
				}
			}
		}
		if !emit("response.output_text.delta", map[string]any{"item_id": item["id"], "output_index": 0, "content_index": 0, "delta": w}) {
			return
		}
		sent++
	}
	done := message("completed", text)
	if !emit("response.output_text.done", map[string]any{"item_id": item["id"], "output_index": 0, "content_index": 0, "text": text}) ||
		!emit("response.content_part.done", map[string]any{"item_id": item["id"], "output_index": 0, "content_index": 0,
			"part": map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}) ||
		!emit("response.output_item.done", map[string]any{"output_index": 0, "item": done}) {
		return
	}
	out := complete()
	var final map[string]any
	_ = json.Unmarshal(out, &final)
	d.settle(s.clock.Now(), cost, prompt, cached, tokens, true)
	c.record("200") // counted before the client can see the end
	event := "response.completed"
	if resp.Status == "incomplete" {
		event = "response.incomplete"
	}
	if !emit(event, map[string]any{"response": final}) {
		return
	}
	_ = rc.Flush()
}

// serveStoredResponse serves GET/DELETE /openai/v1/responses/{id}, POST
// .../{id}/cancel and GET .../{id}/input_items. There is no deployment in
// the path or a body: the response is looked up in the deployments the
// request's key opens (a deployment's own keys open it alone, as an Azure
// resource's keys do), so a request sent to the wrong resource gets 404.
func (s *Server) serveStoredResponse(w http.ResponseWriter, r *http.Request, rest string) {
	id, sub, _ := strings.Cut(rest, "/")
	allowed := map[string]string{"": "GET DELETE", "cancel": "POST", "input_items": "GET"}[sub]
	if id == "" || allowed == "" {
		errNotFound().Write(w)
		return
	}
	if !strings.Contains(allowed, r.Method) {
		errMethod().Write(w)
		return
	}
	if ae := s.authorize(r.Context(), r, nil); ae != nil {
		echoClientRequestID(w, r)
		ae.write(w)
		return
	}
	key := presentedKey(r)
	own := s.ownKey(key)
	var d *deployment
	var stored *storedResponse
	for _, name := range s.order {
		cand := s.deployments[name]
		if !cand.opens(key, own) {
			continue
		}
		if sr, ok := cand.responses.get(id); ok {
			d, stored = cand, sr
			break
		}
		if d == nil {
			d = cand // the deployment the 404 is counted on
		}
	}
	if d != nil {
		d.countRequest()
	}
	c := &call{s: s, d: d, w: w, r: r, op: opResponses, v1: true, requestID: s.newRequestID()}
	if stored == nil {
		if d != nil {
			c.setCommonHeaders()
			c.fail(errResponseNotFound(id, ""))
			return
		}
		errResponseNotFound(id, "").Write(w)
		return
	}
	c.setCommonHeaders()
	out := stored.body
	switch {
	case sub == "input_items":
		list := map[string]any{"object": "list", "data": stored.input, "first_id": nil, "last_id": nil, "has_more": false}
		out, _ = json.Marshal(list)
	case r.Method == http.MethodDelete:
		d.responses.remove(id)
		out, _ = json.Marshal(map[string]any{"id": id, "object": "response.deleted", "deleted": true})
	case sub == "cancel":
		// Only background responses can be cancelled; the simulator's
		// responses are complete when created.
		c.fail(azure.BadRequest("Only responses created with background=true can be cancelled.", ""))
		return
	}
	c.record("200")
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// presentedKey is the api-key or Bearer value a request carries.
func presentedKey(r *http.Request) string {
	if k := r.Header.Get("Api-Key"); k != "" {
		return k
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// ownKey reports whether key is a deployment's own key (not a top-level one).
func (s *Server) ownKey(key string) bool {
	if _, global := s.globalKeys[key]; global {
		return false
	}
	_, ok := s.keys[key]
	return ok
}

package sim

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-gw/spillway/azure"
)

// call is one request to a known deployment.
type call struct {
	s          *Server
	d          *deployment
	w          http.ResponseWriter
	r          *http.Request
	op         string
	apiVersion string
	v1         bool
	requestID  string
}

// serveAPI serves a chat-completions or embeddings request. name is empty on
// the v1 routes, where the body's model names the deployment.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, name, op string, v1 bool) {
	if r.Method != http.MethodPost {
		errMethod().Write(w)
		return
	}
	d := s.deployments[name]
	if ae := s.authorize(r.Context(), r, d); ae != nil {
		if d != nil {
			d.countRequest()
			d.record(itoa(int64(ae.e.Status)))
		}
		echoClientRequestID(w, r)
		ae.write(w)
		return
	}
	var body []byte
	if v1 {
		var ok bool
		if body, ok = s.readBody(w, r, nil); !ok {
			return
		}
		defer s.putBuf(body)
		var m struct {
			Model string `json:"model"`
		}
		if err := decodeJSON(body, &m); err != nil {
			err.Write(w)
			return
		}
		if m.Model == "" {
			azure.BadRequest("'model' is a required property", "model").Write(w)
			return
		}
		name = m.Model
		d = s.deployments[name]
		if d != nil && d.cfg.DisableLocalAuth {
			// Only now is the deployment known: refuse a key here too.
			if ae := s.authorize(r.Context(), r, d); ae != nil {
				d.countRequest()
				d.record(itoa(int64(ae.e.Status)))
				echoClientRequestID(w, r)
				ae.write(w)
				return
			}
		}
	}
	if d == nil {
		azure.DeploymentNotFound(name).Write(w)
		return
	}
	d.countRequest()
	if k := presentedKey(r); !d.opens(k, s.ownKey(k)) {
		// Another deployment's own key: as Azure answers a key of
		// another resource.
		d.record("401")
		echoClientRequestID(w, r)
		azure.Unauthorized().Write(w)
		return
	}
	c := &call{s: s, d: d, w: w, r: r, op: op, v1: v1, requestID: s.newRequestID()}
	c.setCommonHeaders()
	if !v1 {
		c.apiVersion = queryValue(r.URL.RawQuery, "api-version")
		if c.apiVersion == "" {
			c.fail(azure.MissingAPIVersion())
			return
		}
		var ok bool
		if body, ok = s.readBody(w, r, d); !ok {
			return
		}
		defer s.putBuf(body)
	}
	c.serve(body)
}

func (c *call) setCommonHeaders() {
	// Keys are written canonical, straight into the map: this is the hot path.
	h := c.w.Header()
	if c.d.regionHeader != nil {
		h["X-Ms-Region"] = c.d.regionHeader
	}
	id := []string{c.requestID}
	h["Apim-Request-Id"] = id
	h["X-Request-Id"] = id
	if v := c.r.Header["X-Ms-Client-Request-Id"]; len(v) > 0 && v[0] != "" {
		h["X-Ms-Client-Request-Id"] = v[:1]
	} else {
		h["X-Ms-Client-Request-Id"] = id
	}
	h["X-Sim-Deployment"] = c.d.nameHeader
}

// record counts the response in the ledger and logs it at debug level.
func (c *call) record(status string) {
	c.d.record(status)
	if c.s.log.Enabled(c.r.Context(), slog.LevelDebug) {
		c.s.log.LogAttrs(c.r.Context(), slog.LevelDebug, "sim request",
			slog.String("deployment", c.d.cfg.Name),
			slog.String("op", c.op),
			slog.String("status", status),
			slog.String("request_id", c.requestID))
	}
}

// setStateHeaders adds the rate-limit headers (standard) or the utilization
// header (provisioned).
func (c *call) setStateHeaders(st rateState) {
	h := c.w.Header()
	if c.d.bucket != nil {
		if !c.d.cfg.NoUtilizationHeader {
			h.Set("Azure-Openai-Deployment-Utilization", utilizationHeader(st.utilization))
		}
		return
	}
	if c.d.cfg.NoRateLimitHeaders {
		return
	}
	h["X-Ratelimit-Limit-Requests"] = c.d.limitReqHeader
	h["X-Ratelimit-Limit-Tokens"] = c.d.limitTokHeader
	h["X-Ratelimit-Remaining-Requests"] = []string{itoa(st.remainingRequests)}
	h["X-Ratelimit-Remaining-Tokens"] = []string{itoa(st.remainingTokens)}
}

// fail writes an Azure error and records it.
func (c *call) fail(e *azure.Error) {
	if c.d.bucket != nil {
		c.setStateHeaders(c.d.state(c.s.clock.Now()))
	}
	c.record(strconv.Itoa(e.Status)) // counted before the client can see it
	e.Write(c.w)
}

// readBody reads the request body within the size limit, answering 413 when it
// is over. d, when known, records the 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, d *deployment) ([]byte, bool) {
	limit := s.cfg.MaxBodyBytes
	tooLarge := func() ([]byte, bool) {
		if d != nil {
			d.record("413")
		}
		azure.TooLarge(limit).Write(w)
		return nil, false
	}
	if r.ContentLength > limit {
		return tooLarge()
	}
	bp := s.bufs.Get().(*[]byte)
	buf := (*bp)[:0]
	rd := io.LimitReader(r.Body, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			*bp = buf[:0]
			s.bufs.Put(bp)
			return tooLarge()
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			*bp = buf[:0]
			s.bufs.Put(bp)
			if d != nil {
				d.record("400")
			}
			azure.BadRequest("The request body could not be read.", "").Write(w)
			return nil, false
		}
	}
	return buf, true
}

func (s *Server) putBuf(b []byte) {
	if cap(b) > 1<<20 {
		return // do not keep huge buffers
	}
	b = b[:0]
	s.bufs.Put(&b)
}

// serve runs a request that reached a known deployment with its body read.
func (c *call) serve(body []byte) {
	s, d := c.s, c.d
	faults, err := parseFaultHeader(c.r.Header.Get(FaultHeader))
	if err != nil {
		c.fail(azure.BadRequest("Invalid x-sim-fault header: "+err.Error(), FaultHeader))
		return
	}
	random, draw := d.draws()
	plan := planFaults(faults, d.cfg.Name).merge(random)
	ctx := c.r.Context()
	if plan.delay > 0 {
		if err := s.clock.Sleep(ctx, plan.delay); err != nil {
			c.record(statusClientClosed)
			return
		}
	}
	switch plan.terminal.kind {
	case faultStatus:
		if plan.terminal.status == http.StatusRequestTimeout {
			c.fail(azure.Timeout())
		} else {
			c.fail(azure.ServerError(plan.terminal.status))
		}
		return
	case faultThrottle, faultLegacyThrottle:
		st := d.state(s.clock.Now())
		after := scaled(time.Second, s.cfg.TimeScale)
		status := http.StatusTooManyRequests
		if plan.terminal.kind == faultLegacyThrottle || legacyAPIVersion(c.apiVersion) {
			status = http.StatusFailedDependency
		}
		c.throttle(st, throttle{status: status, retryAfter: after, reason: reasonTokens, apiVersion: c.apiVersion})
		return
	case faultReset:
		c.reset(nil)
		return
	}
	switch c.op {
	case opEmbeddings:
		c.serveEmbeddings(body, plan)
	case opCompletions:
		c.serveCompletions(body, draw, plan)
	case opResponses:
		c.serveResponses(body, draw, plan)
	default:
		c.serveChat(body, draw, plan)
	}
}

// statusClientClosed is the ledger key of a request whose client went away
// before the response was complete.
const statusClientClosed = "499"

func (c *call) throttle(st rateState, t throttle) {
	c.setStateHeaders(st)
	c.record(strconv.Itoa(t.status)) // counted before the client can see it
	t.bare = c.d.bareThrottle()
	t.write(c.w, c.d.cfg)
}

// admit charges cost, or answers the throttle and returns false.
func (c *call) admit(cost int64) (rateState, bool) {
	st, ok, after, reason := c.d.admit(c.s.clock.Now(), cost)
	if ok {
		return st, true
	}
	status := http.StatusTooManyRequests
	if legacyAPIVersion(c.apiVersion) {
		status = http.StatusFailedDependency
	}
	c.throttle(st, throttle{status: status, retryAfter: after, reason: reason, apiVersion: c.apiVersion})
	return st, false
}

func (c *call) serveChat(body []byte, draw uint64, plan faultPlan) {
	s, d := c.s, c.d
	req, perr := parseChatRequest(body)
	if perr != nil {
		c.fail(perr)
		return
	}
	if req.includeUsage && !c.v1 && !usageSupported(c.apiVersion) {
		c.fail(azure.BadRequest("Unrecognized request argument supplied: stream_options", "stream_options"))
		return
	}
	prompt := int64(-1)
	if s.count != nil {
		if n, err := s.count(d.cfg.Model, body); err == nil && n >= 0 {
			prompt = int64(n)
		} else {
			s.log.Debug("prompt counter failed; using the approximation", slog.String("deployment", d.cfg.Name), slog.Any("error", err))
		}
	}
	if prompt < 0 {
		prompt = approxChatTokens(&req)
	}
	if requested := prompt + req.maxTokens; requested > d.cfg.ContextWindow {
		c.fail(azure.ContextLengthExceeded(int(d.cfg.ContextWindow), int(requested)))
		return
	}
	if phrase := d.cfg.ContentFilterPhrase; phrase != "" && promptContains(&req, phrase) {
		c.fail(azure.ContentFiltered("hate"))
		return
	}
	maxTokens := req.maxTokens
	if maxTokens == 0 {
		maxTokens = d.cfg.MissingMaxTokens
	}
	cost := d.arrivalCost(prompt, maxTokens*req.n)
	var prefixes []uint64
	if d.cache != nil {
		prefixes = chatPrefixes(&req, prompt, "", 0)
	}
	st, ok := c.admit(cost)
	if !ok {
		return
	}
	cached := d.cached(s.clock.Now(), prefixes)
	tokens, finish := completionLength(&d.cfg.Completion, req.maxTokens, draw)
	if phrase := d.cfg.CompletionFilterPhrase; phrase != "" && promptContains(&req, phrase) {
		tokens, finish = filterCompletion(tokens)
	}
	text := newTextSource(draw)
	now := s.clock.Now()
	meta := responseMeta{id: chatID(draw), created: now.Unix(), modelJSON: d.modelJSON}
	firstToken := time.Duration(d.cfg.Latency.FirstTokenMs) * time.Millisecond
	var perToken time.Duration
	if tps := d.cfg.Latency.TokensPerSecond; tps > 0 {
		perToken = time.Duration(float64(time.Second) / tps)
	}
	c.setStateHeaders(st)
	ctx := c.r.Context()

	if req.stream {
		st := &stream{
			meta: meta, n: req.n, tokens: tokens, finish: finish, prompt: prompt, cached: cached, includeUsage: req.includeUsage,
			text: text, clock: s.clock, firstToken: firstToken, perToken: perToken, async: d.cfg.AsyncContentFilter,
		}
		if plan.terminal.kind == faultResetMidStream {
			st.resetAfter = resetMidStreamEvents
		}
		counted := false // the ledger counts a response before the client can see its end
		st.complete = func() {
			d.settle(s.clock.Now(), cost, prompt, cached, tokens*req.n, true)
			c.record("200")
			counted = true
		}
		reset := func(sent int64) error {
			d.settle(s.clock.Now(), cost, prompt, cached, sent, false)
			c.record("reset")
			counted = true
			return c.resetStream()
		}
		if sent, err := st.write(ctx, c.w, reset); err != nil && !counted {
			d.settle(s.clock.Now(), cost, prompt, cached, sent, false)
			c.record(statusClientClosed)
		}
		return
	}

	if err := s.clock.Sleep(ctx, firstToken+time.Duration(tokens)*perToken); err != nil {
		d.settle(s.clock.Now(), cost, prompt, cached, 0, false)
		c.record(statusClientClosed)
		return
	}
	bp := s.bufs.Get().(*[]byte)
	out := appendChatCompletion((*bp)[:0], meta, text, req.n, tokens, finish, prompt, cached)
	defer func() { *bp = out[:0]; s.bufs.Put(bp) }()
	if plan.terminal.kind == faultResetMidStream {
		d.settle(s.clock.Now(), cost, prompt, cached, 0, false)
		c.reset(out)
		return
	}
	// The completion's real cost replaces the estimate before the utilization
	// header is read, and the ledger counts the response before it is sent.
	d.settle(s.clock.Now(), cost, prompt, cached, tokens*req.n, true)
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

func (c *call) serveEmbeddings(body []byte, plan faultPlan) {
	s, d := c.s, c.d
	req, perr := parseEmbeddingsRequest(body)
	if perr != nil {
		c.fail(perr)
		return
	}
	prompt := approxEmbeddingTokens(&req)
	if prompt > d.cfg.ContextWindow {
		c.fail(azure.ContextLengthExceeded(int(d.cfg.ContextWindow), int(prompt)))
		return
	}
	if phrase := d.cfg.ContentFilterPhrase; phrase != "" {
		for _, in := range req.inputs {
			if containsFold(in, phrase) {
				c.fail(azure.ContentFiltered("hate"))
				return
			}
		}
	}
	st, ok := c.admit(prompt)
	if !ok {
		return
	}
	if err := s.clock.Sleep(c.r.Context(), time.Duration(d.cfg.Latency.FirstTokenMs)*time.Millisecond); err != nil {
		d.settle(s.clock.Now(), prompt, prompt, 0, 0, false)
		c.record(statusClientClosed)
		return
	}
	dims := d.cfg.EmbeddingDimensions
	if req.dimensions > 0 {
		dims = req.dimensions
	}
	out := appendEmbeddings(nil, &req, d.modelJSON, dims, s.cfg.Seed, prompt)
	if plan.terminal.kind == faultResetMidStream {
		d.settle(s.clock.Now(), prompt, prompt, 0, 0, false)
		c.reset(out)
		return
	}
	d.settle(s.clock.Now(), prompt, prompt, 0, 0, true)
	if d.bucket != nil {
		st = d.state(s.clock.Now())
	}
	c.setStateHeaders(st)
	c.record("200")
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(out)
}

func promptContains(r *chatRequest, phrase string) bool {
	for i := range r.messages {
		if containsFold(r.messages[i].text, phrase) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains substr, ignoring case.
func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}

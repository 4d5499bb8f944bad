package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillway-gw/spillway/azure"
)

// Options are the simulator's injected dependencies. Zero values get defaults.
type Options struct {
	// Clock defaults to RealClock.
	Clock Clock
	// PromptCounter defaults to ApproxPromptTokens.
	PromptCounter PromptCounter
	// Logger defaults to a logger that discards everything.
	Logger *slog.Logger
}

// Server is the simulator's HTTP handler.
type Server struct {
	cfg         *Config
	clock       Clock
	count       PromptCounter // nil: the built-in approximation on the parsed request
	log         *slog.Logger
	keys        map[string]struct{}
	deployments map[string]*deployment
	order       []string // deployment names in config order
	ids         atomic.Uint64
	bufs        sync.Pool
}

var _ http.Handler = (*Server)(nil)

// New validates cfg and builds a simulator.
func New(cfg *Config, opts Options) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("sim: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim config: %w", err)
	}
	s := &Server{
		cfg:         cfg,
		clock:       opts.Clock,
		count:       opts.PromptCounter,
		log:         opts.Logger,
		keys:        make(map[string]struct{}, len(cfg.Keys)),
		deployments: make(map[string]*deployment, len(cfg.Deployments)),
	}
	if s.clock == nil {
		s.clock = RealClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, k := range cfg.Keys {
		s.keys[k] = struct{}{}
	}
	now := s.clock.Now()
	for i := range cfg.Deployments {
		d := &cfg.Deployments[i]
		s.deployments[d.Name] = newDeployment(d, cfg.TimeScale, cfg.Seed, now)
		s.order = append(s.order, d.Name)
	}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return s, nil
}

// Paths.
const (
	deploymentsPrefix = "/openai/deployments/"
	v1Chat            = "/openai/v1/chat/completions"
	v1Embeddings      = "/openai/v1/embeddings"
	ledgerPath        = "/_sim/ledger"
	resetPath         = "/_sim/reset"
	healthPath        = "/_sim/health"
)

// Operations.
const (
	opChat       = "chat/completions"
	opEmbeddings = "embeddings"
)

func errNotFound() *azure.Error {
	return &azure.Error{Status: http.StatusNotFound, Code: "404", Message: "Resource not found"}
}

func errMethod() *azure.Error {
	return &azure.Error{Status: http.StatusMethodNotAllowed, Code: "405", Message: "The requested method is not allowed for this resource."}
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, deploymentsPrefix):
		name, op, ok := strings.Cut(p[len(deploymentsPrefix):], "/")
		if !ok || (op != opChat && op != opEmbeddings) || name == "" {
			errNotFound().Write(w)
			return
		}
		s.serveAPI(w, r, name, op, false)
	case p == v1Chat:
		s.serveAPI(w, r, "", opChat, true)
	case p == v1Embeddings:
		s.serveAPI(w, r, "", opEmbeddings, true)
	case p == ledgerPath:
		if r.Method != http.MethodGet {
			errMethod().Write(w)
			return
		}
		s.serveLedger(w)
	case p == resetPath:
		if r.Method != http.MethodPost {
			errMethod().Write(w)
			return
		}
		s.Reset()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"reset"}`)
	case p == healthPath:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	default:
		errNotFound().Write(w)
	}
}

// Ledger returns what every deployment has seen since start or the last reset.
func (s *Server) Ledger() Ledger {
	now := s.clock.Now()
	l := Ledger{Deployments: make(map[string]DeploymentLedger, len(s.deployments))}
	for _, name := range s.order {
		l.Deployments[name] = s.deployments[name].snapshot(now)
	}
	return l
}

// Reset clears every deployment's counters and throttling state.
func (s *Server) Reset() {
	now := s.clock.Now()
	for _, name := range s.order {
		s.deployments[name].reset(now)
	}
}

func (s *Server) serveLedger(w http.ResponseWriter) {
	b, err := json.Marshal(s.Ledger())
	if err != nil {
		azure.ServerError(http.StatusInternalServerError).Write(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (s *Server) authorized(r *http.Request) bool {
	if len(s.keys) == 0 {
		return true
	}
	if k := r.Header.Get("Api-Key"); k != "" {
		_, ok := s.keys[k]
		return ok
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		_, ok := s.keys[strings.TrimSpace(a[7:])]
		return ok
	}
	return false
}

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
	if !s.authorized(r) {
		if d != nil {
			d.countRequest()
			d.record("401")
		}
		azure.Unauthorized().Write(w)
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
	}
	if d == nil {
		azure.DeploymentNotFound(name).Write(w)
		return
	}
	d.countRequest()
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
		h.Set("Azure-Openai-Deployment-Utilization", utilizationHeader(st.utilization))
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
	e.Write(c.w)
	c.record(strconv.Itoa(e.Status))
}

// readBody reads the request body within the size limit, answering 413 when it
// is over. d, when known, records the 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, d *deployment) ([]byte, bool) {
	limit := s.cfg.MaxBodyBytes
	tooLarge := func() ([]byte, bool) {
		azure.TooLarge(limit).Write(w)
		if d != nil {
			d.record("413")
		}
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
			azure.BadRequest("The request body could not be read.", "").Write(w)
			if d != nil {
				d.record("400")
			}
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
	if c.op == opEmbeddings {
		c.serveEmbeddings(body, plan)
		return
	}
	c.serveChat(body, draw, plan)
}

// statusClientClosed is the ledger key of a request whose client went away
// before the response was complete.
const statusClientClosed = "499"

func (c *call) throttle(st rateState, t throttle) {
	c.setStateHeaders(st)
	t.write(c.w, c.d.cfg)
	c.record(strconv.Itoa(t.status))
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
	prompt := approxChatTokens(&req)
	if s.count != nil {
		if n, err := s.count(d.cfg.Model, body); err == nil {
			prompt = int64(n)
		} else {
			s.log.Debug("prompt counter failed; using the approximation", slog.String("deployment", d.cfg.Name), slog.Any("error", err))
		}
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
	cost := maxTokens * req.n
	if d.bucket != nil || d.cfg.Estimate == EstimatePromptPlusMaxTokens {
		cost += prompt
	}
	st, ok := c.admit(cost)
	if !ok {
		return
	}
	tokens, finish := completionLength(&d.cfg.Completion, req.maxTokens, draw)
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
			meta: meta, n: req.n, tokens: tokens, finish: finish, prompt: prompt, includeUsage: req.includeUsage,
			text: text, clock: s.clock, firstToken: firstToken, perToken: perToken,
		}
		if plan.terminal.kind == faultResetMidStream {
			st.resetAfter = resetMidStreamEvents
		}
		sent, err := st.write(ctx, c.w, c.hijackFlushed)
		switch {
		case err == nil:
			d.settle(s.clock.Now(), cost, prompt, tokens*req.n, true)
			c.record("200")
		case errors.Is(err, errStreamReset):
			d.settle(s.clock.Now(), cost, prompt, sent, false)
			c.record("reset")
		default:
			d.settle(s.clock.Now(), cost, prompt, sent, false)
			c.record(statusClientClosed)
		}
		return
	}

	if err := s.clock.Sleep(ctx, firstToken+time.Duration(tokens)*perToken); err != nil {
		d.settle(s.clock.Now(), cost, prompt, 0, false)
		c.record(statusClientClosed)
		return
	}
	bp := s.bufs.Get().(*[]byte)
	out := appendChatCompletion((*bp)[:0], meta, text, req.n, tokens, finish, prompt)
	defer func() { *bp = out[:0]; s.bufs.Put(bp) }()
	if plan.terminal.kind == faultResetMidStream {
		c.reset(out)
		d.settle(s.clock.Now(), cost, prompt, 0, false)
		return
	}
	if d.bucket != nil {
		// The completion's real cost replaces the estimate before the header is read.
		d.settle(s.clock.Now(), cost, prompt, tokens*req.n, true)
		c.setStateHeaders(d.state(s.clock.Now()))
	} else {
		d.settle(s.clock.Now(), cost, prompt, tokens*req.n, true)
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(out)
	c.record("200")
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
		d.settle(s.clock.Now(), prompt, prompt, 0, false)
		c.record(statusClientClosed)
		return
	}
	dims := d.cfg.EmbeddingDimensions
	if req.dimensions > 0 {
		dims = req.dimensions
	}
	out := appendEmbeddings(nil, &req, d.modelJSON, dims, s.cfg.Seed, prompt)
	if plan.terminal.kind == faultResetMidStream {
		c.reset(out)
		d.settle(s.clock.Now(), prompt, prompt, 0, false)
		return
	}
	d.settle(s.clock.Now(), prompt, prompt, 0, true)
	if d.bucket != nil {
		st = d.state(s.clock.Now())
	}
	c.setStateHeaders(st)
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(out)
	c.record("200")
}

// reset cuts the connection with a TCP RST. With partial non-nil, it first
// sends a 200 status line, headers and the first half of partial.
func (c *call) reset(partial []byte) {
	defer c.record("reset")
	conn, bw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, a recorder): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	if partial != nil {
		_, _ = fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", len(partial))
		_ = c.w.Header().Write(bw)
		_, _ = bw.WriteString("\r\n")
		_, _ = bw.Write(partial[:len(partial)/2])
		_ = bw.Flush()
	}
	rst(conn)
}

// hijackFlushed flushes what the stream wrote, then resets the connection.
func (c *call) hijackFlushed() error {
	rc := http.NewResponseController(c.w)
	if err := rc.Flush(); err != nil {
		return err
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		c.record("reset")
		panic(http.ErrAbortHandler) // not hijackable (HTTP/2): abort the stream instead
	}
	rst(conn)
	return nil
}

// rst closes conn so the peer sees a reset, not a clean close.
func rst(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
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

// legacyAPIVersion reports whether v predates 2023-05-15, the first GA
// chat-completions version: those versions signalled throttling with 424.
func legacyAPIVersion(v string) bool {
	return isDate(v) && v[:10] < "2023-05-15"
}

// usageSupported reports whether v accepts stream_options (2024-09-01-preview,
// 2024-10-21 GA and later; non-date versions such as "preview" accept it).
func usageSupported(v string) bool {
	return !isDate(v) || v[:10] >= "2024-09-01"
}

func isDate(v string) bool {
	if len(v) < 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// queryValue returns the first value of key in a raw query, without building a map.
func queryValue(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != key {
			if uk, err := url.QueryUnescape(k); err != nil || uk != key {
				continue
			}
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			return uv
		}
		return v
	}
	return ""
}

// newRequestID returns a UUID-shaped id, unique per request and repeatable for a seed.
func (s *Server) newRequestID() string {
	n := s.ids.Add(1)
	a, b := splitmix(s.cfg.Seed^n), splitmix(s.cfg.Seed+n*0x9e3779b97f4a7c15)
	var buf [36]byte
	const hexd = "0123456789abcdef"
	j := 0
	for i := range 16 {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf[j] = '-'
			j++
		}
		var v byte
		if i < 8 {
			v = byte(a >> (8 * i))
		} else {
			v = byte(b >> (8 * (i - 8)))
		}
		buf[j], buf[j+1] = hexd[v>>4], hexd[v&15]
		j += 2
	}
	return string(buf[:])
}

// chatID returns "chatcmpl-" and 29 alphanumerics derived from draw.
func chatID(draw uint64) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var buf [9 + 29]byte
	copy(buf[:], "chatcmpl-")
	x := draw
	for i := 9; i < len(buf); i++ {
		if (i-9)%10 == 0 {
			x = splitmix(x + uint64(i))
		}
		buf[i] = alnum[x%uint64(len(alnum))]
		x /= uint64(len(alnum))
	}
	return string(buf[:])
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Serve serves the simulator on ln until ctx is done, then shuts
// down gracefully (in-flight requests get up to grace to finish).
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sim serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sim serve: %w", err)
	}
	return nil
}

// Package redisstore keeps the capacity model's state in Redis, so that
// several spillway replicas share one picture of every backend: windows,
// PTU bucket, cooldowns and reservations. Each operation is one Lua script
// call (one round trip), atomic against every other replica. The same Redis
// remembers which backend stored each response of the Responses API
// (Responses).
//
// The rules are the memory store's (package capacity), written again in Lua
// (store.lua) because they must run inside Redis to be atomic; the tests run
// the same scenarios against both.
package redisstore

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/spillway-gw/spillway/capacity"
)

//go:embed store.lua
var script string

var lua = rueidis.NewLuaScript(script)

// Options configure a Store.
type Options struct {
	// KeyPrefix starts every key ("spillway:" by default). On a Redis
	// Cluster, put a hash tag in it ("{spillway}:") so that one script's
	// keys share a slot.
	KeyPrefix string
	// Timeout bounds one call; past it the model serves from its local
	// share. Default 100 ms.
	Timeout time.Duration
	// ReservationTTL is how long a reservation nobody settles is kept
	// (a replica that died mid-request). Default 10 minutes.
	ReservationTTL time.Duration
}

// Store is a capacity.Store on Redis.
type Store struct {
	ctx  context.Context
	opts Options

	// client is dialled on first use, and again after a failed dial (Redis
	// may be down when spillway starts).
	mu     sync.Mutex
	client rueidis.Client
	dial   func() (rueidis.Client, error)

	// Set by SetBackends; the Model calls with its lock held.
	names map[string]int // index in keys/args
	keys  []string       // backend keys
	args  [][]string     // per backend: name and its 11 spec values
}

var (
	_ capacity.Store = (*Store)(nil)
	_ capacity.Held  = (*held)(nil)
)

// New returns a Store using client. ctx bounds every call (the server's
// lifetime).
func New(ctx context.Context, client rueidis.Client, o Options) *Store {
	s := newStore(ctx, o)
	s.client = client
	return s
}

// Connect returns a Store that connects with co when first used, and
// again after a failed attempt.
func Connect(ctx context.Context, co rueidis.ClientOption, o Options) *Store {
	s := newStore(ctx, o)
	s.dial = func() (rueidis.Client, error) { return rueidis.NewClient(co) }
	return s
}

func newStore(ctx context.Context, o Options) *Store {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "spillway:"
	}
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = 10 * time.Minute
	}
	return &Store{ctx: ctx, opts: o, names: map[string]int{}}
}

// Conn is the store's connection (dialled on first use), for other stores
// on the same Redis (consumers' limits, chargeback).
func (s *Store) Conn() (rueidis.Client, error) { return s.conn() }

func (s *Store) conn() (rueidis.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		c, err := s.dial()
		if err != nil {
			return nil, fmt.Errorf("redis: connect: %w", err)
		}
		s.client = c
	}
	return s.client, nil
}

// Close closes the connection.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		s.client.Close()
	}
}

// held is a reservation in Redis, known by id.
type held struct {
	id      string
	backend string // where this replica last put it; the script reads the truth
}

func (h *held) Backend() string { return h.backend }

// ID is the reservation's id: Ask.ID, or another when that was in use.
func (h *held) ID() string { return h.id }

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	return c.Do(ctx, c.B().Ping().Build()).Error()
}

// SetBackends keeps the specs to pass with every call. Redis keeps the
// state of a backend by name, across reloads and replicas.
func (s *Store) SetBackends(_ time.Time, specs []capacity.BackendSpec) error {
	names := map[string]int{}
	var keys []string
	var args [][]string
	for _, sp := range specs {
		if sp.Validate() != nil {
			continue
		}
		if _, dup := names[sp.Name]; dup {
			continue
		}
		sp = sp.WithDefaults()
		names[sp.Name] = len(keys)
		keys = append(keys, s.opts.KeyPrefix+"b:"+sp.Name)
		ptu, tl := "0", int64(sp.TPM)
		if sp.Tier == capacity.TierPTU {
			ptu, tl = "1", int64(sp.CapacityTPM)
		}
		tbin := max(1, sp.TokenWindow.Microseconds()/capacity.TokenWindowBins)
		qbin := max(1, sp.RequestWindow.Microseconds()/capacity.RequestWindowBins)
		args = append(args, []string{
			sp.Name, ptu, itoa(tl), itoa(sp.RequestLimit()),
			itoa(tbin), itoa(capacity.TokenWindowBins), itoa(qbin), itoa(capacity.RequestWindowBins),
			itoa(sp.TokenWindow.Microseconds()), itoa(int64(sp.Priority)), itoa(int64(sp.Weight)),
			strconv.FormatFloat(sp.OutputRatio, 'g', -1, 64),
		})
	}
	s.names, s.keys, s.args = names, keys, args
	return nil
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// result is a script's reply, or why there is none.
type result struct {
	rueidis.RedisResult
	err error
}

func (r result) Error() error {
	if r.err != nil {
		return r.err
	}
	return r.RedisResult.Error()
}

func (r result) AsStrSlice() ([]string, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.RedisResult.AsStrSlice()
}

func (r result) ToArray() ([]rueidis.RedisMessage, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.RedisResult.ToArray()
}

// call runs op with the given backends (nil: all) and op arguments.
func (s *Store) call(op string, now time.Time, resKey string, backends []string, extra ...string) result {
	client, err := s.conn()
	if err != nil {
		return result{err: err}
	}
	idx := make([]int, 0, len(s.keys))
	if backends == nil {
		for i := range s.keys {
			idx = append(idx, i)
		}
	} else {
		seen := map[int]bool{}
		for _, name := range backends {
			if i, ok := s.names[name]; ok && !seen[i] {
				seen[i] = true
				idx = append(idx, i)
			}
		}
	}
	if resKey == "" {
		resKey = s.opts.KeyPrefix + "r:-"
	}
	keys := make([]string, 0, 1+len(idx))
	keys = append(keys, resKey)
	args := make([]string, 0, 3+12*len(idx)+len(extra))
	args = append(args, op, itoa(now.UnixMicro()), strconv.Itoa(len(idx)))
	for _, i := range idx {
		keys = append(keys, s.keys[i])
		args = append(args, s.args[i]...)
	}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
	defer cancel()
	res := lua.Exec(ctx, client, keys, args)
	if err := res.Error(); err != nil && staleConn(ctx, err) {
		// A connection Redis dropped (it restarted) fails its next call
		// at once; the call never ran, so it is safe to send it again.
		res = lua.Exec(ctx, client, keys, args)
	}
	return result{RedisResult: res}
}

// staleConn reports an error of the connection itself (not a reply from
// Redis, not our deadline): EOF, reset, broken pipe.
func staleConn(ctx context.Context, err error) bool {
	if ctx.Err() != nil || rueidis.IsRedisNil(err) {
		return false
	}
	if _, ok := rueidis.IsRedisErr(err); ok {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (s *Store) resKey(id string) string { return s.opts.KeyPrefix + "r:" + id }

// Choose implements capacity.Store.
func (s *Store) Choose(now time.Time, a capacity.Ask, cost int64) (capacity.Choice, error) {
	id := a.ID
	if id == "" {
		id = randomID()
	}
	overflow := "0"
	if a.Overflow {
		overflow = "1"
	}
	extra := append([]string{itoa(cost), itoa(int64(max(0, a.Output))), itoa(s.opts.ReservationTTL.Milliseconds()), a.Meta, overflow, strconv.FormatFloat(max(a.Headroom, 0), 'g', -1, 64)}, a.Candidates...)
	// The reply: the reason the first candidate was skipped ("" if it was
	// not), how many have room, then the order.
	reply, err := s.call("choose", now, s.resKey(id), a.Candidates, extra...).AsStrSlice()
	if err != nil && strings.HasPrefix(err.Error(), idTaken) {
		id = randomID()
		reply, err = s.call("choose", now, s.resKey(id), a.Candidates, extra...).AsStrSlice()
	}
	if err != nil {
		return capacity.Choice{}, fmt.Errorf("redis: choose: %w", err)
	}
	if len(reply) < 2 {
		return capacity.Choice{}, errors.New("redis: choose: malformed reply")
	}
	fit, err := strconv.Atoi(reply[1])
	if err != nil {
		return capacity.Choice{}, fmt.Errorf("redis: choose: %w", err)
	}
	c := capacity.Choice{FirstSkipped: capacity.Skip(reply[0]), Fit: fit}
	if order := reply[2:]; len(order) > 0 {
		c.Order = order
		if fit > 0 || a.Overflow {
			c.Held = &held{id: id, backend: order[0]}
		}
	}
	return c, nil
}

// idTaken starts the script's error for a reservation id in use.
const idTaken = "SPILLWAY_ID_TAKEN"

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Recovery implements capacity.Store.
func (s *Store) Recovery(now time.Time, candidates []string, d, ahead capacity.Demand) (time.Time, bool, error) {
	vs, err := s.call("recovery", now, "", candidates, append([]string{itoa(d.Cost), itoa(d.Output), itoa(ahead.Cost), itoa(ahead.Output)}, candidates...)...).ToArray()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("redis: recovery: %w", err)
	}
	if len(vs) != 2 {
		return time.Time{}, false, errors.New("redis: recovery: malformed reply")
	}
	at, _ := vs[0].ToString()
	inflight, _ := vs[1].AsInt64()
	if at == "" {
		return time.Time{}, inflight == 1, nil
	}
	us, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("redis: recovery: %w", err)
	}
	return time.UnixMicro(us), inflight == 1, nil
}

// Move implements capacity.Store.
func (s *Store) Move(now time.Time, h capacity.Held, backend string) (capacity.Held, error) {
	rh := h.(*held)
	next, _, err := s.Attach(now, rh.id, backend)
	if err != nil {
		return h, err
	}
	if next == nil {
		return h, nil // settled meanwhile: nothing to move
	}
	return next, nil
}

// Attach moves reservation id to backend, whichever replica took it, and
// returns it with its meta; nil when no such reservation exists.
func (s *Store) Attach(now time.Time, id, backend string) (capacity.Held, string, error) {
	vs, err := s.call("move", now, s.resKey(id), nil, backend).AsStrSlice()
	if rueidis.IsRedisNil(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("redis: move: %w", err)
	}
	meta := ""
	if len(vs) > 0 {
		meta = vs[0]
	}
	return &held{id: id, backend: backend}, meta, nil
}

// Settle implements capacity.Store.
func (s *Store) Settle(now time.Time, h capacity.Held, u capacity.Usage) error {
	err := s.call("settle", now, s.resKey(h.(*held).id), nil, strconv.Itoa(u.Prompt), strconv.Itoa(u.Cached), strconv.Itoa(u.Output)).Error()
	if err != nil {
		return fmt.Errorf("redis: settle: %w", err)
	}
	return nil
}

// Release implements capacity.Store.
func (s *Store) Release(now time.Time, h capacity.Held) error {
	if err := s.call("release", now, s.resKey(h.(*held).id), nil).Error(); err != nil {
		return fmt.Errorf("redis: release: %w", err)
	}
	return nil
}

// Observe implements capacity.Store.
func (s *Store) Observe(now time.Time, backend string, h capacity.Held, o capacity.Observation) error {
	resKey, useRes := "", "0"
	if rh, ok := h.(*held); ok && rh != nil {
		resKey, useRes = s.resKey(rh.id), "1"
	}
	cooldown := int64(-1) // the backend did not say
	if o.Cooldown >= 0 {
		cooldown = o.Cooldown.Microseconds()
	}
	err := s.call("observe", now, resKey, []string{backend},
		backend, strconv.Itoa(o.Status), itoa(cooldown),
		itoa(o.HealthBase.Microseconds()), itoa(o.HealthMax.Microseconds()),
		itoa(o.RemainingTokens), itoa(o.RemainingRequests), strconv.FormatFloat(o.Utilization, 'g', -1, 64), useRes,
		itoa(o.ThrottleBase.Microseconds()), itoa(o.ThrottleMax.Microseconds()),
	).Error()
	if err != nil {
		return fmt.Errorf("redis: observe: %w", err)
	}
	return nil
}

// States implements capacity.Store.
func (s *Store) States(now time.Time) ([]capacity.BackendState, error) {
	rows, err := s.call("states", now, "", nil).ToArray()
	if err != nil {
		return nil, fmt.Errorf("redis: states: %w", err)
	}
	out := make([]capacity.BackendState, 0, len(rows))
	for _, row := range rows {
		f, err := row.AsStrSlice()
		if err != nil || len(f) != 9 {
			return nil, errors.New("redis: states: malformed reply")
		}
		num := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v }
		tier := capacity.TierTPM
		if s.args[s.names[f[0]]][1] == "1" {
			tier = capacity.TierPTU
		}
		hu := time.UnixMicro(int64(num(5)))
		out = append(out, capacity.BackendState{
			Name: f[0], Tier: tier, Utilization: num(1),
			RemainingTokens: int(num(2)), RemainingRequests: int(num(3)),
			CooldownUntil: micros(int64(num(4))), HealthUntil: micros(int64(num(5))), Healthy: !now.Before(hu),
			Reserved: int(num(6)), InFlight: int(num(7)), Effective: num(8),
		})
	}
	sortStates(out)
	return out, nil
}

func micros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

func sortStates(out []capacity.BackendState) {
	slices.SortFunc(out, func(a, b capacity.BackendState) int { return strings.Compare(a.Name, b.Name) })
}

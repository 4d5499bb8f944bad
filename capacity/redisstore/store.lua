-- spillway's shared capacity state: one script, one round trip, atomic.
-- The same rules as package capacity's memory store (window.go, bucket.go,
-- backend.go, memory.go), on state kept in Redis hashes so that every
-- replica sees and changes one state. Time is the caller's, in microseconds
-- since the Unix epoch; bins are numbered from the epoch, so every replica
-- puts a charge in the same bin.
--
-- Replies: choose returns the reason its first candidate was not listed
-- ('' when it was) followed by the order.
--
-- KEYS[1]   the reservation hash ("<prefix>r:<id>"), or any key when unused
-- KEYS[1+i] backend i's state hash ("<prefix>b:<name>")
-- ARGV      op, now, n, then per backend: name, ptu (1/0), token limit (tpm
--           tokens or ptu capacity), request limit, token bin µs, token bins,
--           request bin µs, request bins, token window µs, priority, weight,
--           output ratio (ptu: an output token weighs that many input
--           tokens); then the op's own arguments.

local op = ARGV[1]
local now = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local EPS = 1e-6
local STATE_TTL_MS = 86400000

local specs, byName = {}, {}
local a = 4
for i = 1, n do
  local s = {
    key = KEYS[i + 1], name = ARGV[a], ptu = ARGV[a + 1] == '1',
    tl = tonumber(ARGV[a + 2]), rl = tonumber(ARGV[a + 3]),
    tbin = tonumber(ARGV[a + 4]), tbins = tonumber(ARGV[a + 5]),
    qbin = tonumber(ARGV[a + 6]), qbins = tonumber(ARGV[a + 7]),
    win = tonumber(ARGV[a + 8]), prio = tonumber(ARGV[a + 9]), weight = tonumber(ARGV[a + 10]),
    ratio = tonumber(ARGV[a + 11]), idx = i,
  }
  specs[i] = s
  byName[s.name] = s
  a = a + 12
end
local args = a -- first op argument

local function fmt(v)
  if v == math.floor(v) and math.abs(v) < 1e15 then return string.format('%d', v) end
  return string.format('%.17g', v)
end

-- Backend state, loaded once per call and written back at the end: the
-- scalars in the backend's hash, the windows' bins in a second hash
-- ("<key>:w") read only where a rule needs them, so that a decision reads a
-- few fields per backend, not every bin.
local function load(s)
  if s.h then return s end
  local raw = redis.call('HGETALL', s.key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = tonumber(raw[i + 1]) end
  s.h, s.dirty = h, {}
  s.wkey, s.bins, s.bdirty, s.bdel = s.key .. ':w', {}, {}, {}
  s.rkey = s.key .. ':r'
  -- Reservations nobody ended by their expiry (the replica that held them
  -- died) leave the in-flight counts; their charges leave with the
  -- windows and the bucket's drain as every charge does. 'rx' is the
  -- earliest expiry (0: none), so the set is read only when one is due.
  local rx = h['rx'] or 0
  if rx > 0 and rx <= now then
    local gone = redis.call('ZRANGEBYSCORE', s.rkey, '-inf', now)
    for _, m in ipairs(gone) do
      h['inf'] = (h['inf'] or 0) - 1
      h['res'] = (h['res'] or 0) - (tonumber(string.match(m, '|([^|]*)$')) or 0)
    end
    if #gone > 0 then redis.call('ZREMRANGEBYSCORE', s.rkey, '-inf', now) end
    local first = redis.call('ZRANGE', s.rkey, 0, 0, 'WITHSCORES')
    h['rx'] = tonumber(first[2]) or 0
    s.dirty['inf'], s.dirty['res'], s.dirty['rx'] = true, true, true
  end
  return s
end
local function get(s, f) return s.h[f] or 0 end
local function set(s, f, v) s.h[f] = v; s.dirty[f] = true end

-- Bins: s.bins[f] is a number, or false when known to be absent.
local function prefetch(s, p, lo, hi)
  local fs = {}
  for k = lo, hi do
    local f = p .. fmt(k)
    if s.bins[f] == nil then fs[#fs + 1] = f end
  end
  if #fs == 0 then return end
  local vs = redis.call('HMGET', s.wkey, unpack(fs))
  for i, f in ipairs(fs) do s.bins[f] = tonumber(vs[i]) or false end
end
local function bget(s, f)
  if s.bins[f] == nil then s.bins[f] = tonumber(redis.call('HGET', s.wkey, f)) or false end
  return s.bins[f] or 0
end
local function bset(s, f, v) s.bins[f] = v; s.bdirty[f] = true end
local function bdrop(s, f)
  s.bins[f] = false
  s.bdirty[f] = nil
  s.bdel[#s.bdel + 1] = f
end

-- A backend's hashes expire a day after their expiry was last set ('xt'):
-- set again when half of that has passed, not on every write.
local function save()
  for _, s in ipairs(specs) do
    if s.h then
      local refresh = now - (s.h['xt'] or 0) > STATE_TTL_MS * 500
      if refresh then set(s, 'xt', now) end
      local kv = {}
      for f in pairs(s.dirty) do kv[#kv + 1] = f; kv[#kv + 1] = fmt(s.h[f]) end
      if #kv > 0 then redis.call('HSET', s.key, unpack(kv)) end
      if refresh then redis.call('PEXPIRE', s.key, STATE_TTL_MS) end
      local wkv = {}
      for f in pairs(s.bdirty) do wkv[#wkv + 1] = f; wkv[#wkv + 1] = fmt(s.bins[f]) end
      if #wkv > 0 then redis.call('HSET', s.wkey, unpack(wkv)) end
      if refresh then redis.call('PEXPIRE', s.wkey, STATE_TTL_MS) end
      if #s.bdel > 0 then redis.call('HDEL', s.wkey, unpack(s.bdel)) end
    end
  end
end

-- Sliding windows: prefix p ('t' tokens, 'q' requests); fields p..'h' the
-- newest bin seen and p..'s' the total in the backend's hash, p..<bin> each
-- bin's charge in its bins hash.
-- Admission (capacity/effective.go, admitSlack): use plus the smaller of
-- the cost and 1 % of the limit must stay within the limit.
local ADMIT_SLACK = 0.01
local function slackN(limit) return math.max(1, math.floor(limit / 100)) end
local function fitsN(used, cost, limit)
  return used + math.min(cost, slackN(limit)) <= limit
end
local function advance(s, p, binUs, size)
  local nb = math.floor(now / binUs)
  local head = s.h[p .. 'h']
  if head == nil then set(s, p .. 'h', nb); return end
  if nb <= head then return end
  local lo, hi = head - size + 1, math.min(head, nb - size)
  if lo <= hi then
    local total = get(s, p .. 's')
    prefetch(s, p, lo, hi)
    for k = lo, hi do
      local f = p .. fmt(k)
      local v = s.bins[f]
      if v then total = total - v; bdrop(s, f) end
    end
    set(s, p .. 's', total)
  end
  set(s, p .. 'h', nb)
end
local function wcharge(s, p, binUs, size, amt)
  advance(s, p, binUs, size)
  local head = s.h[p .. 'h']
  local f = p .. fmt(head)
  bset(s, f, bget(s, f) + amt)
  set(s, p .. 's', get(s, p .. 's') + amt)
  return head
end
local function wuncharge(s, p, binUs, size, bin, amt)
  advance(s, p, binUs, size)
  local head = s.h[p .. 'h']
  if bin > head or bin <= head - size then return end
  local f = p .. fmt(bin)
  local v = bget(s, f)
  amt = math.min(amt, v)
  bset(s, f, v - amt)
  set(s, p .. 's', get(s, p .. 's') - amt)
end
local function wcorrect(s, p, binUs, size, delta)
  if delta >= 0 then wcharge(s, p, binUs, size, delta); return end
  advance(s, p, binUs, size)
  local head = s.h[p .. 'h']
  local need = -delta
  prefetch(s, p, head - size + 1, head)
  for k = head - size + 1, head do
    if need <= 0 then break end
    local f = p .. fmt(k)
    local v = s.bins[f]
    if v and v > 0 then
      local m = math.min(need, v)
      bset(s, f, v - m)
      set(s, p .. 's', get(s, p .. 's') - m)
      need = need - m
    end
  end
end
local function wroom(s, p, binUs, size, limit, cost, reserve)
  advance(s, p, binUs, size)
  local total = get(s, p .. 's')
  local need = total + reserve + math.min(cost, slackN(limit)) - limit
  if need <= 0 then return now end
  local head = s.h[p .. 'h']
  prefetch(s, p, head - size + 1, head)
  local freed = 0
  for k = head - size + 1, head do
    freed = freed + (s.bins[p .. fmt(k)] or 0)
    if freed >= need then return (k + size) * binUs end
  end
  return (head + size) * binUs
end

-- Effective capacity (capacity/effective.go): 'ef' the share of the
-- configured capacity the model assumes it can use, absent meaning 1.
local EFF_CUT, EFF_FLOOR, EFF_GAIN = 0.85, 0.25, 0.1
local function eff(s) return s.h['ef'] or 1 end
local function elimit(limit, e) return math.max(1, math.floor(limit * e)) end

-- The PTU bucket: 'lv' level, 'll' when it was last drained; it drains and
-- fills up to the effective capacity.
local function drain(s)
  local last = s.h['ll']
  if last == nil then set(s, 'll', now); return end
  local dt = now - last
  if dt > 0 then
    set(s, 'lv', math.max(0, get(s, 'lv') - s.tl / s.win * eff(s) * dt))
    set(s, 'll', now)
  end
end
local function setEff(s, e)
  if s.ptu then drain(s) end
  set(s, 'ef', e)
end
local function badd(s, v)
  drain(s)
  set(s, 'lv', math.max(0, get(s, 'lv') + v))
end
local function bfits(s, cost, reserve)
  drain(s)
  local lv, limit = get(s, 'lv'), s.tl * eff(s)
  return lv + reserve + math.min(cost, ADMIT_SLACK * limit) <= limit + EPS
end
local function broom(s, cost, reserve)
  if bfits(s, cost, reserve) then return now end
  local target = math.max(0, s.tl * eff(s) - reserve - math.min(cost, ADMIT_SLACK * (s.tl * eff(s))))
  return now + math.ceil((get(s, 'lv') - target) / (s.tl / s.win * eff(s)))
end

-- A backend: 'cd' throttling cooldown end, 'hu' health cooldown end, 'hf'
-- consecutive failures, 'res'/'inf' reserved tokens and reservations in
-- flight, 'ct'/'cq'/'cl' cumulative header corrections.
local function available(s)
  return now >= math.max(get(s, 'cd'), get(s, 'hu'))
end
local function fits(s, cost, reserve)
  if s.ptu then return bfits(s, cost, reserve) end
  advance(s, 't', s.tbin, s.tbins)
  advance(s, 'q', s.qbin, s.qbins)
  return fitsN(get(s, 'q' .. 's'), 1, elimit(s.rl, eff(s))) and fitsN(get(s, 't' .. 's'), cost, elimit(s.tl, eff(s)))
end
local function headroom(s, cost)
  if s.ptu then return (s.tl * eff(s) - get(s, 'lv') - cost) / s.tl end
  local t = (elimit(s.tl, eff(s)) - get(s, 'ts') - cost) / s.tl
  local r = (elimit(s.rl, eff(s)) - get(s, 'qs') - 1) / s.rl
  return math.min(t, r)
end
local function recovery(s, cost, ahead)
  local t = math.max(now, get(s, 'cd'), get(s, 'hu'))
  local room
  if s.ptu then
    room = broom(s, cost, ahead)
  else
    room = math.max(wroom(s, 't', s.tbin, s.tbins, elimit(s.tl, eff(s)), cost, ahead), wroom(s, 'q', s.qbin, s.qbins, elimit(s.rl, eff(s)), 1, 0))
  end
  return math.max(t, room)
end

-- What a request of cost tokens, output of them output, is charged on s
-- (capacity.BackendSpec.Cost), and what a finished one cost it
-- (capacity.BackendSpec.Normalized).
local function costOf(s, cost, output)
  if not s.ptu or s.ratio <= 1 or output <= 0 then return cost end
  return cost + math.ceil((s.ratio - 1) * output - 1e-9)
end
local function normalized(s, prompt, cached, output)
  prompt, output = math.max(0, prompt), math.max(0, output)
  if not s.ptu then return prompt + output end
  return math.max(0, prompt - math.max(0, cached)) + math.ceil(s.ratio * output - 1e-9)
end

-- Reservations: 'n' backend, 'c' cost, 'f' 1 when the backend had room for
-- it (a 429 then disagrees with the model), 'tb'/'qb' bins charged, snapshots
-- 'sl','scl' (ptu) and 'st','sq','sct','scq' (tpm), 'm' the caller's meta.
local function loadRes()
  local raw = redis.call('HGETALL', KEYS[1])
  if #raw == 0 then return nil end
  local r = {}
  for i = 1, #raw, 2 do
    local f, v = raw[i], raw[i + 1]
    if f == 'n' or f == 'm' then r[f] = v else r[f] = tonumber(v) end
  end
  return r
end
-- saveRes writes r; ttl (ms) is given when r is new. A moved reservation
-- keeps its expiry (HSET leaves it) and fields of its earlier backend's
-- kind, which the rules for its current one do not read.
local function saveRes(r, ttl)
  local kv = {}
  for f, v in pairs(r) do
    kv[#kv + 1] = f
    if type(v) == 'number' then kv[#kv + 1] = fmt(v) else kv[#kv + 1] = v end
  end
  redis.call('HSET', KEYS[1], unpack(kv))
  if ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
-- A reservation is counted in flight on its backend while it is in the
-- backend's set "<key>:r" (member "<reservation key>|<cost>", scored by its
-- expiry): ending it removes it, and decrements the counts only if it was
-- still there.
local function member(r) return KEYS[1] .. '|' .. fmt(r.c) end
local function reserve(r, s)
  set(s, 'inf', get(s, 'inf') + 1)
  set(s, 'res', get(s, 'res') + r.c)
  redis.call('ZADD', s.rkey, r.x, member(r))
  redis.call('PEXPIRE', s.rkey, STATE_TTL_MS)
  local rx = get(s, 'rx')
  if rx == 0 or r.x < rx then set(s, 'rx', r.x) end
end
local function unreserve(r, s)
  if redis.call('ZREM', s.rkey, member(r)) == 1 then
    set(s, 'inf', get(s, 'inf') - 1)
    set(s, 'res', get(s, 'res') - r.c)
  end
end
local function charge(r, s)
  r.n, r.c = s.name, costOf(s, r.a, r.o)
  local cost = r.c
  load(s)
  if available(s) and fits(s, cost, 0) then r.f = 1 else r.f = 0 end
  reserve(r, s)
  if s.ptu then
    badd(s, cost)
    r.sl, r.scl = get(s, 'lv'), get(s, 'cl')
  else
    r.tb = wcharge(s, 't', s.tbin, s.tbins, cost)
    r.qb = wcharge(s, 'q', s.qbin, s.qbins, 1)
    r.st, r.sq, r.sct, r.scq = get(s, 'ts'), get(s, 'qs'), get(s, 'ct'), get(s, 'cq')
  end
end
local function uncharge(r, s)
  load(s)
  unreserve(r, s)
  if s.ptu then
    badd(s, -r.c)
  else
    wuncharge(s, 't', s.tbin, s.tbins, r.tb, r.c)
    wuncharge(s, 'q', s.qbin, s.qbins, r.qb, 1)
  end
end

local result
if op == 'choose' then
  -- args: cost, output, reservation ttl ms, meta, overflow, headroom, candidate names in order
  -- A request id another replica's request is using (a client that reuses
  -- its x-request-id): the caller picks another.
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.error_reply('SPILLWAY_ID_TAKEN reservation id in use')
  end
  local cost, output = tonumber(ARGV[args]), tonumber(ARGV[args + 1])
  local ttl, meta = tonumber(ARGV[args + 2]), ARGV[args + 3]
  local overflow = ARGV[args + 4] == '1'
  -- keep: the share of a PTU's capacity the request must leave free (Ask.Headroom)
  local keep = tonumber(ARGV[args + 5])
  local cs, spares, seen = {}, {}, {}
  local first = ''
  local from = args + 6
  for i = from, #ARGV do
    local s = byName[ARGV[i]]
    if s and not seen[s] then
      seen[s] = true
      load(s)
      local c = costOf(s, cost, output)
      local reserve = 0
      if s.ptu and keep > 0 then reserve = math.floor(keep * s.tl) end
      if available(s) and fits(s, c, reserve) then
        local h = math.max(0, headroom(s, c))
        if not s.ptu then h = h * s.weight end
        cs[#cs + 1] = {s = s, score = h, pos = #cs + 1}
      else
        -- a PTU whose headroom the request must leave is no spare for it
        if available(s) and reserve == 0 then spares[#spares + 1] = s end
        if i == from then
          if now < get(s, 'hu') then first = 'unhealthy'
          elseif now < get(s, 'cd') then first = 'throttled'
          else first = 'capacity' end
        end
      end
    elseif not s and i == from then
      first = 'unknown'
    end
  end
  table.sort(cs, function(x, y)
    if x.s.ptu ~= y.s.ptu then return x.s.ptu end
    if x.s.prio ~= y.s.prio then return x.s.prio < y.s.prio end
    if x.score ~= y.score then return x.score > y.score end
    return x.pos < y.pos
  end)
  -- Reply: the first's skip reason, how many have room, then the order:
  -- those with room, then the spares (out of cooldown, no room).
  result = {first, tostring(#cs)}
  for _, c in ipairs(cs) do result[#result + 1] = c.s.name end
  for _, sp in ipairs(spares) do result[#result + 1] = sp.name end
  local to = nil
  if #cs > 0 then to = cs[1].s elseif overflow then to = spares[1] end
  if to then
    local r = {m = meta, x = now + ttl * 1000, a = cost, o = output}
    charge(r, to)
    saveRes(r, ttl)
  end
elseif op == 'recovery' then
  -- args: cost, output, cost and output held ahead, candidate names;
  -- returns {earliest µs or '', inflight 0/1}
  local cost, output = tonumber(ARGV[args]), tonumber(ARGV[args + 1])
  local acost, aoutput = tonumber(ARGV[args + 2]), tonumber(ARGV[args + 3])
  local best, inflight = nil, 0
  for i = args + 4, #ARGV do
    local s = byName[ARGV[i]]
    if s then
      load(s)
      if get(s, 'inf') > 0 then inflight = 1 end
      local t = recovery(s, costOf(s, cost, output), costOf(s, acost, aoutput))
      if best == nil or t < best then best = t end
    end
  end
  result = {best and fmt(best) or '', inflight}
elseif op == 'move' then
  -- args: backend; returns {meta} or nil when no such reservation
  local r = loadRes()
  if r == nil then
    result = false
  else
    local to = byName[ARGV[args]]
    if to and r.n ~= to.name then
      local from = byName[r.n]
      if from then uncharge(r, from) end
      charge(r, to)
      saveRes(r, nil)
    end
    result = {r.m or ''}
  end
elseif op == 'settle' or op == 'release' then
  -- args (settle): the usage's prompt, cached and output tokens
  local r = loadRes()
  if r ~= nil then
    local s = byName[r.n]
    if s then
      if op == 'release' then
        uncharge(r, s)
      else
        load(s)
        unreserve(r, s)
        local used = normalized(s, tonumber(ARGV[args]), tonumber(ARGV[args + 1]), tonumber(ARGV[args + 2]))
        if s.ptu then badd(s, used - r.c) end
        local e = eff(s)
        if e < 1 then setEff(s, math.min(1, e + EFF_GAIN * math.max(0, used) / s.tl)) end
      end
    end
    redis.call('DEL', KEYS[1])
  end
  result = 1
elseif op == 'observe' then
  -- args: backend, status, cooldown µs (-1: not said), health base µs,
  -- health max µs, remaining tokens, remaining requests, utilization %, use
  -- reservation (1/0), throttle base µs, throttle max µs
  local s = byName[ARGV[args]]
  result = 0
  if s then
    load(s)
    local status, cooldown = tonumber(ARGV[args + 1]), tonumber(ARGV[args + 2])
    local hbase, hmax = tonumber(ARGV[args + 3]), tonumber(ARGV[args + 4])
    local remT, remQ, util = tonumber(ARGV[args + 5]), tonumber(ARGV[args + 6]), tonumber(ARGV[args + 7])
    local r = nil
    if ARGV[args + 8] == '1' then
      r = loadRes()
      if r and r.n ~= s.name then r = nil end
    end
    if s.ptu then
      if util >= 0 then
        local seen = util / 100 * s.tl
        local delta
        if r then
          delta = seen - r.sl - (get(s, 'cl') - r.scl)
        else
          drain(s)
          delta = math.max(0, seen - get(s, 'lv'))
        end
        if delta ~= 0 then badd(s, delta); set(s, 'cl', get(s, 'cl') + delta) end
      end
    else
      if remT >= 0 then
        advance(s, 't', s.tbin, s.tbins)
        local seen = s.tl - remT
        local delta
        if r then delta = seen - r.st - (get(s, 'ct') - r.sct) else delta = math.max(0, seen - get(s, 'ts')) end
        if delta ~= 0 then wcorrect(s, 't', s.tbin, s.tbins, delta); set(s, 'ct', get(s, 'ct') + delta) end
      end
      if remQ >= 0 then
        advance(s, 'q', s.qbin, s.qbins)
        local seen = s.rl - remQ
        local delta
        if r then delta = seen - r.sq - (get(s, 'cq') - r.scq) else delta = math.max(0, seen - get(s, 'qs')) end
        if delta ~= 0 then wcorrect(s, 'q', s.qbin, s.qbins, delta); set(s, 'cq', get(s, 'cq') + delta) end
      end
    end
    if status == 429 or status == 424 then
      local sawLevel
      if s.ptu then sawLevel = util >= 0 else sawLevel = remT >= 0 or remQ >= 0 end
      if status == 429 and r and r.f == 1 and available(s) and not sawLevel then
        setEff(s, math.max(EFF_FLOOR, eff(s) * EFF_CUT))
      end
      if cooldown < 0 then
        local tbase, tmax = tonumber(ARGV[args + 9]), tonumber(ARGV[args + 10])
        local f = get(s, 'tf')
        local i = 0
        cooldown = tbase
        while i < f and cooldown < tmax do cooldown = cooldown * 2; i = i + 1 end
        cooldown = math.min(cooldown, tmax)
        set(s, 'tf', f + 1)
      elseif get(s, 'tf') ~= 0 then
        set(s, 'tf', 0)
      end
      if s.ptu and status == 429 then
        -- At 100 % until the cooldown ends (see capacity's memStore.Observe).
        drain(s)
        local delta = s.tl * eff(s) + s.tl / s.win * eff(s) * cooldown - get(s, 'lv')
        if delta > 0 then badd(s, delta); set(s, 'cl', get(s, 'cl') + delta) end
      end
      if now + cooldown > get(s, 'cd') then set(s, 'cd', now + cooldown) end
    elseif status == 0 or status == 408 or (status >= 500 and status <= 599) then
      local d, f = hbase, get(s, 'hf')
      local i = 0
      while i < f and d < hmax do d = d * 2; i = i + 1 end
      d = math.min(d, hmax)
      set(s, 'hf', f + 1)
      if now + d > get(s, 'hu') then set(s, 'hu', now + d) end
    elseif status >= 200 and status <= 299 then
      if get(s, 'hf') ~= 0 then set(s, 'hf', 0) end
      if get(s, 'tf') ~= 0 then set(s, 'tf', 0) end
    end
  end
elseif op == 'states' then
  -- returns per backend: name, utilization, remaining tokens, remaining
  -- requests (-1 on ptu), cooldown end µs, health end µs, reserved, in
  -- flight, effective share
  result = {}
  for _, s in ipairs(specs) do
    load(s)
    local util, remT, remQ
    if s.ptu then
      drain(s)
      local lv = get(s, 'lv')
      util, remT, remQ = lv / s.tl, math.max(0, math.floor(s.tl * eff(s) - lv)), -1
    else
      advance(s, 't', s.tbin, s.tbins)
      advance(s, 'q', s.qbin, s.qbins)
      util = get(s, 'ts') / s.tl
      remT, remQ = math.max(0, elimit(s.tl, eff(s)) - get(s, 'ts')), math.max(0, elimit(s.rl, eff(s)) - get(s, 'qs'))
    end
    result[#result + 1] = {s.name, fmt(util), fmt(remT), fmt(remQ), fmt(get(s, 'cd')), fmt(get(s, 'hu')), fmt(get(s, 'res')), fmt(get(s, 'inf')), fmt(eff(s))}
  end
else
  return redis.error_reply('spillway: unknown op ' .. tostring(op))
end
save()
return result

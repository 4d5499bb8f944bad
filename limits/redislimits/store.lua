-- Consumers' limits (package limits), atomic across replicas. The rules are
-- the memory store's (limits/memory.go); the tests run both the same way.
--
-- KEYS: two per check: its counter, and a window's running total.
-- ARGV: op, now (µs), id, quota grace (ms), then per check: limit, cost,
-- window (µs; 0 for a quota), until (µs, a quota's renewal); correct adds
-- the new amount per check after those.
--
-- Numbers go back to Redis as the strings they came in: Lua would write a
-- time in microseconds with 14 digits.
--
-- A window is a sorted set: one member "id:amount" per charge, scored by its
-- time; a charge counts until window after it. Its total is kept beside it,
-- so that a call reads only the charges that just expired, not all of them.
-- A quota is a counter in a key naming its period, kept until grace after
-- the period renews.
local op, now, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local grace = tonumber(ARGV[4])
local n = #KEYS / 2
local per = 4
if op == 'correct' then per = 5 end

local function arg(i, j) return tonumber(ARGV[4 + (i - 1) * per + j]) end
local function argstr(i, j) return ARGV[4 + (i - 1) * per + j] end
local function key(i) return KEYS[2 * i - 1] end
local function totalKey(i) return KEYS[2 * i] end

local function amount(member) return tonumber(string.match(member, ':(%d+)$')) end

-- used reads a counter, dropping a window's expired charges first.
local function used(i)
  local window = arg(i, 3)
  if window > 0 then
    local gone = redis.call('ZRANGEBYSCORE', key(i), '-inf', now - window)
    if #gone > 0 then
      local sum = 0
      for _, m in ipairs(gone) do sum = sum + amount(m) end
      redis.call('ZREMRANGEBYSCORE', key(i), '-inf', now - window)
      if redis.call('ZCARD', key(i)) == 0 then
        redis.call('DEL', totalKey(i))
      else
        redis.call('DECRBY', totalKey(i), sum)
      end
    end
    return tonumber(redis.call('GET', totalKey(i)) or '0')
  end
  return tonumber(redis.call('GET', key(i)) or '0')
end

local function fits(u, cost, limit) return u == 0 or u + cost <= limit end

-- retry_at: the first moment window i has room for cost, as its oldest
-- charges leave it one by one.
local function retry_at(i, u, cost, limit)
  local window = arg(i, 3)
  local all = redis.call('ZRANGE', key(i), 0, -1, 'WITHSCORES')
  for j = 1, #all, 2 do
    u = u - amount(all[j])
    if fits(u, cost, limit) then return tonumber(all[j + 1]) + window end
  end
  return now
end

local function keep(i)
  local window = arg(i, 3)
  if window > 0 then
    local ms = math.ceil(window / 1000) + 1000
    redis.call('PEXPIRE', key(i), ms)
    redis.call('PEXPIRE', totalKey(i), ms)
  else
    -- Relative to the call's time, not Redis's clock: expiry only collects.
    redis.call('PEXPIRE', key(i), math.max(math.ceil((arg(i, 4) - now) / 1000), 0) + grace)
  end
end

if op == 'use' then
  local out = {}
  for i = 1, n do out[i] = used(i) end
  return out
end

if op == 'charge' then
  local uses, refused, at = {}, -1, 0
  for i = 1, n do
    uses[i] = used(i)
    if refused < 0 and not fits(uses[i], arg(i, 2), arg(i, 1)) then
      refused = i - 1
      if arg(i, 3) > 0 then at = retry_at(i, uses[i], arg(i, 2), arg(i, 1)) else at = arg(i, 4) end
    end
  end
  if refused < 0 then
    for i = 1, n do
      local cost = arg(i, 2)
      if arg(i, 3) > 0 then
        redis.call('ZADD', key(i), ARGV[2], id .. ':' .. argstr(i, 2))
        redis.call('INCRBY', totalKey(i), argstr(i, 2))
      else
        redis.call('INCRBY', key(i), argstr(i, 2))
      end
      keep(i)
      uses[i] = uses[i] + cost
    end
  end
  local out = {refused, at}
  for i = 1, n do out[i + 2] = uses[i] end
  return out
end

if op == 'correct' then
  for i = 1, n do
    local cost, new = arg(i, 2), arg(i, 5)
    if arg(i, 3) > 0 then
      local old = id .. ':' .. argstr(i, 2)
      local score = redis.call('ZSCORE', key(i), old)
      if score then
        redis.call('ZREM', key(i), old)
        if new > 0 then redis.call('ZADD', key(i), score, id .. ':' .. argstr(i, 5)) end
        redis.call('INCRBY', totalKey(i), new - cost)
      end
    elseif redis.call('EXISTS', key(i)) == 1 then
      local v = math.max(tonumber(redis.call('GET', key(i))) + new - cost, 0)
      redis.call('SET', key(i), v, 'KEEPTTL')
    end
  end
  return 0
end

return redis.error_reply('unknown op ' .. tostring(op))

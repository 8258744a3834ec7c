import { CIRCUIT_PROBE_RETRY_AFTER_MS, CIRCUIT_WINDOW_BUCKETS } from '@aigw/core';

/*
 * The transitions of `@aigw/core`'s circuit state machine (circuit.ts, the specification: ADR
 * 0012), run atomically in Redis. Port a change made there; keep the two in step: test/routing/circuit-differential.test.ts drives both with the
 * same random events and fails on any difference.
 *
 * KEYS[1] hash: st (state), cf (consecutive failures), lf (last failure at, while closed),
 *         oa (opened at), cu (cooldown until: set aside for the wait its provider asked for), cs (the status
 *         that asked for it), and a ring of N window buckets b<i> (bucket id), s<i> (successes), f<i> (failures).
 * KEYS[2] sorted set of half-open probe ids scored by expiry (epoch ms).
 * ARGV: now ('' = Redis server clock), op, probe id ('' = none), failureThreshold,
 *       failureRate, windowMs, minVolume, openMs, halfOpenMaxProbes, probeTtlMs, keyTtlMs,
 *       and for 'success' only: count (successes reported together), age (ms since the latest
 *       of them ended; the caller measures it, so it needs no clock shared with Redis); for
 *       'acquire' only: slot ms (a probe slot is held max(probeTtlMs, it); '' or absent = 0); for 'cooldown'
 *       only: the wait ms its provider asked for (held at most openMs), and the status that asked for it.
 * Returns {allowed, state, probe id, retry-after ms (-1 = none), from, to, reason, now}
 * ('' where there is no transition), and for 'reset' two more: the ms left of the cooldown it ended (-1 = none) and
 * that cooldown's status. No nil inside: it would truncate the reply array.
 */
export const CIRCUIT_LUA = `
local hkey, pkey = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local op, probe = ARGV[2], ARGV[3]
local threshold, rate = tonumber(ARGV[4]), tonumber(ARGV[5])
local windowMs, minVolume = tonumber(ARGV[6]), tonumber(ARGV[7])
local openMs, maxProbes = tonumber(ARGV[8]), tonumber(ARGV[9])
local probeTtl, keyTtl = tonumber(ARGV[10]), tonumber(ARGV[11])
local N = ${CIRCUIT_WINDOW_BUCKETS}

local h = {}
local raw = redis.call('HGETALL', hkey)
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local state = h['st'] or 'closed'
local openedAt = tonumber(h['oa'] or '0')
local cooldownUntil = tonumber(h['cu'] or '0')

local function reply(allowed, st, pid, retryAfter, from, to, reason)
  return { allowed, st, pid, retryAfter, from, to, reason, now }
end

local function open_circuit(from, reason)
  redis.call('HSET', hkey, 'st', 'open', 'oa', now)
  redis.call('PEXPIRE', hkey, keyTtl)
  redis.call('DEL', pkey)
  return reply(0, 'open', '', openMs, from, 'open', reason)
end

-- Whether the probe id holds a live slot of this half-open round (holdsProbe): a late result decides nothing.
local function holds_probe()
  if probe == '' then
    return false
  end
  local score = redis.call('ZSCORE', pkey, probe)
  return score ~= false and tonumber(score) > now
end

local function bucket_id()
  return math.floor(now / (windowMs / N))
end

-- Adds calls to the bucket of now; returns its HSET arguments for the caller to write with its own fields.
local function count_calls(okAdded, failAdded)
  local id = bucket_id()
  local slot = id % N
  local ok, fail = 0, 0
  if tonumber(h['b' .. slot] or '-1') == id then
    ok, fail = tonumber(h['s' .. slot]), tonumber(h['f' .. slot])
  end
  ok, fail = ok + okAdded, fail + failAdded
  h['b' .. slot], h['s' .. slot], h['f' .. slot] = tostring(id), tostring(ok), tostring(fail)
  return 'b' .. slot, id, 's' .. slot, ok, 'f' .. slot, fail
end

local function window_counts()
  local current = bucket_id()
  local ok, fail = 0, 0
  for slot = 0, N - 1 do
    local id = tonumber(h['b' .. slot] or '-1')
    if id > current - N and id <= current then
      ok = ok + tonumber(h['s' .. slot])
      fail = fail + tonumber(h['f' .. slot])
    end
  end
  return ok, fail
end

if op == 'acquire' then
  if now < cooldownUntil then
    local wait = cooldownUntil - now
    if state == 'open' then
      wait = math.max(wait, openedAt + openMs - now)
    end
    return reply(0, state, '', wait, '', '', '')
  end
  local from, to, reason = '', '', ''
  if state == 'open' then
    local untilAt = openedAt + openMs
    if now < untilAt then
      return reply(0, 'open', '', untilAt - now, '', '', '')
    end
    state = 'half_open'
    redis.call('HSET', hkey, 'st', 'half_open')
    redis.call('PEXPIRE', hkey, keyTtl)
    redis.call('DEL', pkey)
    from, to, reason = 'open', 'half_open', 'open_elapsed'
  end
  if state == 'half_open' then
    redis.call('ZREMRANGEBYSCORE', pkey, '-inf', now)
    if redis.call('ZCARD', pkey) >= maxProbes then
      return reply(0, 'half_open', '', ${CIRCUIT_PROBE_RETRY_AFTER_MS}, from, to, reason)
    end
    redis.call('ZADD', pkey, now + math.max(probeTtl, tonumber(ARGV[12]) or 0), probe)
    redis.call('PEXPIRE', pkey, keyTtl)
    return reply(1, 'half_open', probe, -1, from, to, reason)
  end
  return reply(1, 'closed', '', -1, '', '', '')
end

if op == 'success' then
  if state == 'closed' then
    local count, age = tonumber(ARGV[12]) or 1, tonumber(ARGV[13]) or 0
    local b, id, s, ok, f, fail = count_calls(count, 0)
    -- Late successes do not break a failure streak that began after the latest of them.
    if now - age >= tonumber(h['lf'] or '0') then
      redis.call('HSET', hkey, b, id, s, ok, f, fail, 'cf', 0)
    else
      redis.call('HSET', hkey, b, id, s, ok, f, fail)
    end
    redis.call('PEXPIRE', hkey, keyTtl)
  elseif state == 'half_open' and holds_probe() then
    redis.call('DEL', hkey, pkey)
    return reply(1, 'closed', '', -1, 'half_open', 'closed', 'probe_succeeded')
  end
  return reply(1, state, '', -1, '', '', '')
end

if op == 'failure' then
  if state == 'closed' then
    local b, id, s, ok, f, fail = count_calls(0, 1)
    local cf = tonumber(h['cf'] or '0') + 1
    redis.call('HSET', hkey, b, id, s, ok, f, fail, 'cf', cf, 'lf', now)
    redis.call('PEXPIRE', hkey, keyTtl)
    if cf >= threshold then
      return open_circuit('closed', 'consecutive_failures')
    end
    local ok, fail = window_counts()
    local total = ok + fail
    if total >= minVolume and fail / total > rate then
      return open_circuit('closed', 'failure_rate')
    end
  elseif state == 'half_open' and holds_probe() then
    return open_circuit('half_open', 'probe_failed')
  end
  return reply(1, state, '', -1, '', '', '')
end

if op == 'cooldown' then
  local untilAt = now + math.min(math.max(0, math.ceil(tonumber(ARGV[12]))), openMs)
  if untilAt > cooldownUntil then
    redis.call('HSET', hkey, 'cu', untilAt, 'cs', ARGV[13])
    redis.call('PEXPIRE', hkey, keyTtl)
  end
  if probe ~= '' then
    redis.call('ZREM', pkey, probe)
  end
  return reply(1, state, '', -1, '', '', '')
end

if op == 'release' then
  if probe ~= '' then
    redis.call('ZREM', pkey, probe)
  end
  return reply(1, state, '', -1, '', '', '')
end

if op == 'reset' then
  redis.call('DEL', hkey, pkey)
  -- The cooldown it ends (runningCooldown): ms left and its status, -1 and 0 when none ran.
  local left, cs = -1, 0
  if now < cooldownUntil then
    left, cs = cooldownUntil - now, tonumber(h['cs'] or '0')
  end
  local r
  if state ~= 'closed' then
    r = reply(1, 'closed', '', -1, state, 'closed', 'reset')
  else
    r = reply(1, 'closed', '', -1, '', '', '')
  end
  r[9], r[10] = left, cs
  return r
end

return redis.error_reply('unknown circuit op ' .. tostring(op))
`;

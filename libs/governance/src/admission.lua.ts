/**
 * The spend holds' Lua, shared by both scripts: the nano-dollars a hold stands for (its member starts with them), and
 * the release of held nano-dollars from the sum (gone with the last hold; recounted from the holds should it ever go
 * below zero).
 */
const HOLDS_LUA = `
local function heldBy(hold)
  return tonumber(string.match(hold, '^(%d+):'))
end
local function release(holds, sum, nanos)
  if redis.call('ZCARD', holds) == 0 then
    redis.call('DEL', sum)
  elseif redis.call('DECRBY', sum, nanos) < 0 then
    local total = 0
    for _, hold in ipairs(redis.call('ZRANGE', holds, 0, -1)) do total = total + heldBy(hold) end
    local ttl = redis.call('PTTL', holds)
    if ttl > 0 then redis.call('SET', sum, total, 'PX', ttl) else redis.call('SET', sum, total) end
  end
end
`;

/**
 * Admission in one round trip: every rate limit and quota of a request is checked against its counter and,
 * only when all pass, every counter is charged (requests +1, tokens +estimate) and the worst-case cost of the request
 * (nano-dollars) is held. Being one script, concurrent requests of one user on any number of gateway replicas are
 * serialised by Redis: spend can never be reserved past a limit.
 *
 * Spend is held apart from the spend counters (which count what was spent): a sorted set of the user's holds
 * (`<nanos>:<request id>@<Redis time>`, scored by when each lapses: the request's deadline plus a margin) and their
 * sum, which a spend check adds to the counter. Apart, a refusal can tell a budget spent (it resets with its day or
 * month) from one only held by requests in flight (free again as they finish).
 *
 * KEYS: 1 epoch | 2 key requests 3 key tokens 4 user requests 5 user tokens (this minute)
 *       6 day requests 7 day spend 8 month requests 9 month spend | 10 the user's last quota reset time
 *       11 the user's spend holds 12 their sum
 * ARGV: 1..8 limits in KEYS order 2..9 (-1 = none; spend in nano-dollars) | 9 tokens | 10 reserve nanos
 *       11 window expiry 12 day expiry 13 month expiry (epoch ms, PEXPIREAT) | 14 now | 15 the request id
 *       16 when its hold lapses (epoch ms)
 * Returns {'ok', key requests, key tokens, user requests, user tokens, epoch ('-': none), reset time ('0': none), the
 * hold ('': none)} after charging,
 * {'refused', check, current, limit, the same four counts uncharged, held} (the check: the one the request alone
 * exceeds, else the one whose refusal lasts longest, so that its Retry-After is when the request can pass: minute,
 * day, month, and shortest a spend limit only the holds exceed, whose `held` is then their sum, else 0), or
 * {'rebuild'} when quotas apply and the epoch is gone (Redis lost the counters).
 */
export const ADMIT_LUA = `${HOLDS_LUA}
local limits = {}
for i = 1, 8 do limits[i] = tonumber(ARGV[i]) end
local tokens = tonumber(ARGV[9])
local reserve = tonumber(ARGV[10])
local quota = limits[5] >= 0 or limits[6] >= 0 or limits[7] >= 0 or limits[8] >= 0
local spend = limits[6] >= 0 or limits[8] >= 0
-- What the counters are (settlement finds out whether a rebuild or a reset replaced them since).
local epoch = redis.call('GET', KEYS[1])
if quota and not epoch then
  return {'rebuild'}
end
local held = 0
if spend then
  held = math.max(0, tonumber(redis.call('GET', KEYS[12]) or '0'))
end
local names = {'key_rpm', 'key_tpm', 'user_rpm', 'user_tpm', 'daily_requests', 'daily_spend', 'monthly_requests', 'monthly_spend'}
local amounts = {1, tokens, 1, tokens, 1, reserve, 1, reserve}
-- How long each refusal lasts: the minute, the day, the month; a spend limit only the holds exceed, shortest.
local lasts = {1, 1, 1, 1, 2, 2, 3, 3}
local current = {}
-- The refusing check: of those that refuse, the one that lasts longest (the later on a tie), so waiting for it is
-- never followed by the next refusal; unless the request alone exceeds one, which no wait mends.
local refused = 0
local longest = -1
local byHolds = false
local alone = false
for i = 1, 8 do
  local c = 0
  if limits[i] >= 0 then
    c = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
    local inFlight = (i == 6 or i == 8) and held or 0
    if c + inFlight + amounts[i] > limits[i] and not alone then
      local onlyHeld = c + amounts[i] <= limits[i]
      local last = onlyHeld and 0 or lasts[i]
      if amounts[i] > limits[i] or last >= longest then
        refused = i
        longest = last
        byHolds = onlyHeld
        alone = amounts[i] > limits[i]
      end
    end
    c = c + inFlight
  end
  current[i] = c
end
if refused > 0 then
  -- The minute's counters as they stand (nothing charged), for the rate-limit headers of the 429.
  return {'refused', names[refused], current[refused], limits[refused], current[1], current[2], current[3], current[4],
    byHolds and held or 0}
end
for i = 1, 8 do
  -- A spend counter is charged nothing (the hold stands for the request) but made to exist with its expiry: the
  -- settlement adds the cost only to a counter that exists.
  if limits[i] >= 0 and (amounts[i] > 0 or i == 6 or i == 8) then
    local key = KEYS[i + 1]
    local amount = (i == 6 or i == 8) and 0 or amounts[i]
    current[i] = redis.call('INCRBY', key, amount)
    local at = ARGV[11]
    if i == 5 or i == 6 then at = ARGV[12] elseif i == 7 or i == 8 then at = ARGV[13] end
    redis.call('PEXPIREAT', key, at)
  end
end
local hold = ''
if spend and reserve > 0 then
  -- One hold per admission, even of a request id admitted before (a settlement of the earlier one, its hold dropped
  -- by a reset, must not release this one): named by the Redis clock too.
  local t = redis.call('TIME')
  hold = ARGV[10] .. ':' .. ARGV[15] .. '@' .. t[1] .. string.format('%06d', tonumber(t[2]))
  while redis.call('ZADD', KEYS[11], 'NX', ARGV[16], hold) == 0 do hold = hold .. '+' end
  redis.call('INCRBY', KEYS[12], reserve)
  -- Both keys live as long as their latest hold.
  local ttl = tonumber(ARGV[16]) - tonumber(ARGV[14])
  for k = 11, 12 do
    if redis.call('PTTL', KEYS[k]) < ttl then redis.call('PEXPIREAT', KEYS[k], ARGV[16]) end
  end
end
local resets = redis.call('GET', KEYS[10]) or '0'
return {'ok', current[1], current[2], current[3], current[4], epoch or '-', resets, hold}
`;

/**
 * Settlement of a reservation once the real usage is known: each reserved counter moves by the difference
 * (a failed request refunds everything). Counters that expired meanwhile (the minute or day is over) are left
 * alone, and none goes below zero.
 *
 * Counters replaced since admission no longer hold the reservation, and taking it off them would take off what the
 * requests admitted since reserved. A new epoch (Redis lost its data and the quota counters were rebuilt from
 * usage_records, which the running request is not in yet) replaced every counter: they move by the real usage. Only
 * a lost epoch key makes a new epoch (the rebuilder looks again under its lock), and the loss took the minute's token
 * counters with it: one of the admission's minute that exists now was created since, without this reservation. A new
 * reset time (an admin reset the user's quota) replaced the spend counters of the day and the month it happened in,
 * not those of an earlier day or month (admitted at 23:59, reset after midnight: the day's counter still holds the
 * reservation). Whether the request's cost counts in a counter the reset concerns is decided as usage_records decide
 * it, by when the request was received against the last reset: a request received before it costs nothing there
 * (its reservation, if the new counters hold it, is given back whole), one received after it counts even when its
 * admission came before the counters were zeroed.
 *
 * Once per job: KEYS[1] is the job's settlement marker, set (with ARGV[1] ms to live) by the first settlement; a
 * later one (a run taking the job over after the worker that settled it died before completing it) changes
 * nothing. ARGV[1] = '0': no marker.
 *
 * A reservation's hold (ARGV[10]) is released by whichever comes first of its settlement, a refund and its lapse at
 * admission: only the one that removes it from the user's holds takes it off their sum, so a settlement arriving after
 * the hold lapsed (or a second refund) releases nothing twice, and its cost still counts. Held apart, the worst case
 * was never in the spend counters: its reservation's `nanos` is 0, and the counters move by the cost alone.
 *
 * KEYS: 1 the marker, 2 the epoch, 3 the user's last reset time, 4 the user's spend holds, 5 their sum, then the
 * reserved token counters, then the spend ones.
 * ARGV: 1 the marker's time to live | 2 the epoch ('-': none) and 3 the reset time at admission ('' and '': not
 * known, never replaced) | 4 how many token counters | 5 token delta, 6 tokens used | 7 reserved, 8 cost
 * (nano-dollars) | 9 when the request was received (epoch ms; '': after any reset) | 10 the hold ('': none, a
 * reservation of an older release) | 11.. for each spend counter, when its day or month ends (epoch ms; '' or none:
 * not known, any reset concerns it).
 */
export const SETTLE_LUA = `${HOLDS_LUA}
if ARGV[1] ~= '0' and not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
if ARGV[10] ~= '' and redis.call('ZREM', KEYS[4], ARGV[10]) == 1 then
  release(KEYS[4], KEYS[5], heldBy(ARGV[10]))
end
local rebuilt = false
local reset = false
local resetAt = 0
if ARGV[2] ~= '' then
  -- Admitted without an epoch ('-': Redis had lost its data, and a caller with rate limits alone does not wait for
  -- the rebuild), its counters were already the new ones.
  rebuilt = ARGV[2] ~= '-' and (redis.call('GET', KEYS[2]) or '-') ~= ARGV[2]
  local at = redis.call('GET', KEYS[3]) or '0'
  reset = at ~= ARGV[3]
  resetAt = tonumber(at)
end
-- Rebuilt too, the receipt is compared with the reset time: the rebuild restored it from user_quotas.
local received = tonumber(ARGV[9])
local tokenKeys = tonumber(ARGV[4])
for i = 6, #KEYS do
  local delta
  local j = i - 5 - tokenKeys
  if j <= 0 then
    delta = tonumber(rebuilt and ARGV[6] or ARGV[5])
  else
    -- A reset concerns the day and month it happened in: not a counter whose day or month ended before it.
    local ends = ARGV[10 + j] and tonumber(ARGV[10 + j])
    local concerned = resetAt > 0 and (ends == nil or resetAt < ends)
    local counts = not concerned or received == nil or received >= resetAt
    delta = (counts and tonumber(ARGV[8]) or 0) - ((rebuilt or (reset and concerned)) and 0 or tonumber(ARGV[7]))
  end
  if delta ~= 0 and redis.call('EXISTS', KEYS[i]) == 1 then
    local v = redis.call('INCRBY', KEYS[i], delta)
    if v < 0 then
      local ttl = redis.call('PTTL', KEYS[i])
      redis.call('SET', KEYS[i], 0)
      if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
    end
  end
end
return 1
`;

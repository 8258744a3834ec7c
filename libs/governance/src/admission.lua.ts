/**
 * Admission in one round trip: every rate limit and quota of a request is checked against its counter and,
 * only when all pass, every counter is charged (requests +1, tokens +estimate, spend +worst-case cost in
 * nano-dollars). Being one script, concurrent requests of one user on any number of gateway replicas are
 * serialised by Redis: spend can never be reserved past a limit.
 *
 * KEYS: 1 epoch | 2 key requests 3 key tokens 4 user requests 5 user tokens (this minute)
 *       6 day requests 7 day spend 8 month requests 9 month spend | 10 the user's last quota reset time
 *       | 11 (optional) the request's admission marker
 * ARGV: 1..8 limits in KEYS order 2..9 (-1 = none; spend in nano-dollars) | 9 tokens | 10 reserve nanos
 *       11 window expiry 12 day expiry 13 month expiry (epoch ms, PEXPIREAT) | 14 tokens and 15 reserve nanos of the
 *       request without its audio and file parts | 16 the marker's time to live (ms; with KEYS[11])
 * A request's audio and file parts are estimated by their size, roughly (estimateMediaTokens): what of tokens and
 * reserve is theirs is cut to what the tightest tokens-per-minute or spend limit leaves (never below 14 and 15). Such a
 * request is refused only when its limit cannot take the rest of it (retryable), or for good when the rest alone is
 * larger than the limit: an over-estimate of its files never refuses it for good. Settlement corrects the counters to
 * the provider's count. A request without such parts charges 9 and 10 as before: its counters are read as before, and
 * the cut is two comparisons.
 * Returns {'ok', key requests, key tokens, user requests, user tokens, epoch ('-': none), reset time ('0': none),
 * tokens charged, reserve charged} after charging,
 * {'refused', check, current, limit, the same four counts uncharged} (the check: the one the request alone exceeds,
 * else the one that resets last, so that its Retry-After is when the request can pass), or
 * {'rebuild'} when quotas apply and the epoch is gone (Redis lost the counters).
 *
 * Once per request: ioredis sends a script again when its connection dropped after sending it and before the answer
 * came (`autoResendUnfulfilledCommands`), and Redis may have run it; charged twice, a request's second reservation was
 * never settled (settlement takes one off, once) and its day and month counted it until they ended. With KEYS[11] (the
 * request id's marker), the charging run writes what it charged and the epoch and reset time it saw there, for ARGV[16]
 * ms, and a run that finds the marker charges nothing: it answers 'ok' with the minute's counters as they stand and
 * the first run's reservation, which the caller settles as if it had been sent once. A refusal or a 'rebuild' writes
 * no marker (it charged nothing; a check again must check). Without KEYS[11] (a rate-only read) nothing is marked.
 * A marker reading 'undone' (UNDO_LUA: the caller got an error instead of this script's answer, and answered its
 * request 503) charges nothing either: {'undone'}.
 */
export const ADMIT_LUA = `
local limits = {}
for i = 1, 8 do limits[i] = tonumber(ARGV[i]) end
local tokens = tonumber(ARGV[9])
local reserve = tonumber(ARGV[10])
local tokensFloor = tonumber(ARGV[14])
local reserveFloor = tonumber(ARGV[15])
local quota = limits[5] >= 0 or limits[6] >= 0 or limits[7] >= 0 or limits[8] >= 0
local mark = KEYS[11]
if mark then
  local seen = redis.call('GET', mark)
  if seen == 'undone' then
    -- Its caller gave up on it (UNDO_LUA ran first): the request was answered without being admitted.
    return {'undone'}
  end
  if seen then
    -- Charged already by this request: its tokens, reserve, epoch and reset time, as the first run answered them.
    local was = {}
    for part in string.gmatch(seen, '[^ ]+') do was[#was + 1] = part end
    local minute = {}
    for i = 1, 4 do
      minute[i] = limits[i] >= 0 and tonumber(redis.call('GET', KEYS[i + 1]) or '0') or 0
    end
    return {'ok', minute[1], minute[2], minute[3], minute[4], was[3], was[4], tonumber(was[1]), tonumber(was[2])}
  end
end
-- What the counters are (settlement finds out whether a rebuild or a reset replaced them since).
local epoch = redis.call('GET', KEYS[1])
if quota and not epoch then
  return {'rebuild'}
end
local names = {'key_rpm', 'key_tpm', 'user_rpm', 'user_tpm', 'daily_requests', 'daily_spend', 'monthly_requests', 'monthly_spend'}
local current = {}
for i = 1, 8 do
  current[i] = limits[i] >= 0 and tonumber(redis.call('GET', KEYS[i + 1]) or '0') or 0
end
-- The audio and file parts' share cut to what each limit leaves: the smallest such amount serves every limit of its
-- kind (one reservation settles them all), and is never below the request without those parts.
for i = 2, 8, 2 do
  if limits[i] >= 0 then
    if i <= 4 then
      if tokens > tokensFloor and current[i] + tokens > limits[i] then
        tokens = math.max(tokensFloor, limits[i] - current[i])
      end
    elseif reserve > reserveFloor and current[i] + reserve > limits[i] then
      reserve = math.max(reserveFloor, limits[i] - current[i])
    end
  end
end
local amounts = {1, tokens, 1, tokens, 1, reserve, 1, reserve}
-- The refusing check: of those that refuse, the one that resets last (they run minute, day, month), so waiting for
-- it is never followed by the next refusal; unless the request alone exceeds one, which no wait mends.
local refused = 0
local alone = false
for i = 1, 8 do
  if limits[i] >= 0 and current[i] + amounts[i] > limits[i] and not alone then
    refused = i
    alone = amounts[i] > limits[i]
  end
end
if refused > 0 then
  -- The minute's counters as they stand (nothing charged), for the rate-limit headers of the 429.
  return {'refused', names[refused], current[refused], limits[refused], current[1], current[2], current[3], current[4]}
end
for i = 1, 8 do
  if limits[i] >= 0 and amounts[i] > 0 then
    local key = KEYS[i + 1]
    current[i] = redis.call('INCRBY', key, amounts[i])
    local at = ARGV[11]
    if i == 5 or i == 6 then at = ARGV[12] elseif i == 7 or i == 8 then at = ARGV[13] end
    redis.call('PEXPIREAT', key, at)
  end
end
local resets = redis.call('GET', KEYS[10]) or '0'
if mark then
  -- %d: whole numbers exactly (a number concatenated is printed with 14 significant digits).
  redis.call('SET', mark, string.format('%d %d %s %s', tokens, reserve, epoch or '-', resets), 'PX', ARGV[16])
end
return {'ok', current[1], current[2], current[3], current[4], epoch or '-', resets, tokens, reserve}
`;

/**
 * The counters' move from what an admission charged to what the request used, shared by SETTLE_LUA and UNDO_LUA (a
 * Lua function each script starts with; KEYS[2] is the epoch and KEYS[3] the user's last reset time in both).
 * `epoch` and `resets`: as the admission saw them ('' and '': not known, never replaced). `received`: when the
 * request was received (epoch ms; nil: after any reset). `counters`: for each, its key, what it was charged
 * (`reserved`) and what it is to count (`used`), and for a day's or month's counter (`period`) when that ends (`ends`,
 * epoch ms; nil: not known, any reset concerns it). A minute's counter moves by used - reserved, or by used alone
 * once the counters were rebuilt; a day's or month's as SETTLE_LUA's rules below say (a request counter as a spend
 * counter: a reset zeroes both). A minute's counter whose minute is over may name its twin of the minute now (`late`,
 * expiring at `lateAt`): what the request used beyond its reservation is counted there, and nothing else moves.
 */
const MOVE_COUNTERS = `
local function move(epoch, resets, received, counters)
  local rebuilt = false
  local reset = false
  local resetAt = 0
  if epoch ~= '' then
    -- Admitted without an epoch ('-': Redis had lost its data, and a caller with rate limits alone does not wait for
    -- the rebuild), its counters were already the new ones.
    rebuilt = epoch ~= '-' and (redis.call('GET', KEYS[2]) or '-') ~= epoch
    local at = redis.call('GET', KEYS[3]) or '0'
    reset = at ~= resets
    resetAt = tonumber(at)
  end
  -- Rebuilt too, the receipt is compared with the reset time: the rebuild restored it from user_quotas.
  for _, c in ipairs(counters) do
    local delta
    if not c.period then
      delta = c.used - (rebuilt and 0 or c.reserved)
    else
      -- A reset concerns the day and month it happened in: not a counter whose day or month ended before it.
      local concerned = resetAt > 0 and (c.ends == nil or resetAt < c.ends)
      local counts = not concerned or received == nil or received >= resetAt
      delta = (counts and c.used or 0) - ((rebuilt or (reset and concerned)) and 0 or c.reserved)
    end
    if c.late then
      -- Its minute is over (and held its reservation, rebuilt or not): what it used beyond that counts in this one.
      local over = c.used - c.reserved
      if over > 0 then
        redis.call('INCRBY', c.late, over)
        redis.call('PEXPIREAT', c.late, c.lateAt)
      end
    elseif delta ~= 0 and redis.call('EXISTS', c.key) == 1 then
      local v = redis.call('INCRBY', c.key, delta)
      if v < 0 then
        local ttl = redis.call('PTTL', c.key)
        redis.call('SET', c.key, 0)
        if ttl > 0 then redis.call('PEXPIRE', c.key, ttl) end
      end
    end
  end
end
`;

/**
 * Settlement of a reservation once the real usage is known: each reserved counter moves by the difference
 * (a failed request refunds everything). Counters that expired meanwhile (the minute or day is over) are left
 * alone, and none goes below zero; but the tokens a request used beyond its reservation, settled after its minute
 * ended, count in the minute it is settled in: a generation longer than a minute (an answer without max_tokens, a
 * reasoning model) was otherwise counted at its reservation alone, and a caller whose requests reserved the default
 * allowance and generated many times that over minutes used many times its tokens-per-minute limit, every minute.
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
 * A request given back whole that nobody served and nothing records (`uncount`: its job cancelled or removed before a
 * worker took it, never queued, admitted after its client was answered) is also taken off the day's and month's
 * request counters it was charged to, by the same rules (a counter rebuilt or reset since is left alone): usage_records,
 * from which the quota views read and a rebuild restores those counters, hold no row of it.
 *
 * KEYS: 1 the marker, 2 the epoch, 3 the user's last reset time, then the reserved token counters, then (when
 * ARGV[10] is set) each one's twin of the minute now, in the same order, then the spend ones, then (ARGV[11]) the day's
 * and month's request counters to take the request off.
 * ARGV: 1 the marker's time to live | 2 the epoch ('-': none) and 3 the reset time at admission ('' and '': not
 * known, never replaced) | 4 how many token counters | 5 token delta, 6 tokens used | 7 reserved, 8 cost
 * (nano-dollars) | 9 when the request was received (epoch ms; '': after any reset) | 10 when the minute now ends
 * (PEXPIREAT of the twins; '': the admission's minute is not over, no twins) | 11 how many request counters end KEYS
 * | 12.. for each spend counter, then each request counter, when its day or month ends (epoch ms; '': not known, any
 * reset concerns it).
 */
export const SETTLE_LUA = `${MOVE_COUNTERS}
if ARGV[1] ~= '0' and not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
local tokenKeys = tonumber(ARGV[4])
local used = tonumber(ARGV[6])
local late = ARGV[10] ~= '' and tokenKeys or 0
local requestKeys = tonumber(ARGV[11])
local counters = {}
for i = 4, #KEYS do
  local j = i - 3 - tokenKeys - late
  if i - 3 <= tokenKeys then
    counters[#counters + 1] = {
      key = KEYS[i], reserved = used - tonumber(ARGV[5]), used = used,
      late = late > 0 and KEYS[i + tokenKeys] or nil, lateAt = ARGV[10],
    }
  elseif j > 0 then
    -- ARGV[11 + j] '': not known, any reset concerns the counter. The last requestKeys are request counters.
    local isRequest = i > #KEYS - requestKeys
    counters[#counters + 1] = {
      key = KEYS[i], period = true,
      reserved = isRequest and 1 or tonumber(ARGV[7]), used = isRequest and 0 or tonumber(ARGV[8]),
      ends = tonumber(ARGV[11 + j] or ''),
    }
  end
end
move(ARGV[2], ARGV[3], tonumber(ARGV[9]), counters)
return 1
`;

/**
 * Takes back an admission whose caller got an error instead of ADMIT_LUA's answer (its connection dropped and the
 * client gave up on the command, or rejected it after writing it): the request was answered 503, but Redis may have
 * run the script, and its charge would have stayed in the counters until their minute, day and month ended, since no
 * job settles it. Keyed by the request's admission marker (KEYS[1], `gov:admitted:<requestId>`):
 * - marked as charged ('tokens reserve epoch resets'): every counter the admission charged is given back (a request
 *   each, the tokens and the reserve the marker says), as a settlement to nothing would (MOVE_COUNTERS: a counter
 *   rebuilt or reset since the admission is left as it is, never decremented for a charge it does not hold), and the
 *   marker then reads 'undone';
 * - no marker (the script has not run, or never will): the marker is written as 'undone' (a tombstone), so that the
 *   script arriving after this (sent again at a reconnection, or held in a proxy) charges nothing (ADMIT_LUA);
 * - 'undone' already (this script sent again after a dropped connection): nothing.
 * In the first two cases the marker lives ARGV[1] ms from here, as long as an admission's own.
 *
 * KEYS: 1 the request's admission marker, 2 the epoch, 3 the user's last reset time, then each counter the admission
 * charged (those of the limits that apply).
 * ARGV: 1 the marker's time to live (ms) | for each counter from KEYS[4], two: what it counts ('requests', 'tokens',
 * 'spend') and when its day or month ends (epoch ms; '': a minute's counter).
 * Returns 1 when a charge was given back, else 0.
 */
export const UNDO_LUA = `${MOVE_COUNTERS}
local seen = redis.call('GET', KEYS[1])
if seen == 'undone' then
  return 0
end
redis.call('SET', KEYS[1], 'undone', 'PX', ARGV[1])
if not seen then
  return 0
end
local was = {}
for part in string.gmatch(seen, '[^ ]+') do was[#was + 1] = part end
local amounts = {requests = 1, tokens = tonumber(was[1]), spend = tonumber(was[2])}
local counters = {}
for i = 4, #KEYS do
  local ends = ARGV[2 * (i - 3) + 1]
  counters[#counters + 1] = {
    key = KEYS[i], period = ends ~= '', reserved = amounts[ARGV[2 * (i - 3)]], used = 0, ends = tonumber(ends),
  }
end
-- Nothing was used: the receipt time only decides whether a cost counts after a reset.
move(was[3], was[4], nil, counters)
return 1
`;

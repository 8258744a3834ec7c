-- wrk script for scripts/bench: POSTs BENCH_BODY (with BENCH_AUTH as Authorization when set, and any
-- BENCH_HEADERS) and
-- prints one machine-readable line at the end. No response() hook: defining one makes wrk parse
-- every response into Lua, which costs more CPU than the non-2xx count it would give;
-- summary.errors.status already counts non-2xx/3xx answers.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
-- Extra request headers (a peer gateway's routing headers), one "Name: value" per line.
local extra = os.getenv("BENCH_HEADERS")
if extra ~= nil then
  for name, value in string.gmatch(extra, "([^:\n]+):%s*([^\n]*)") do
    wrk.headers[name] = value
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"requests\":%d,\"durationUs\":%d,\"p50Us\":%d,\"p90Us\":%d,\"p99Us\":%d,\"p999Us\":%d," ..
    "\"maxUs\":%d,\"meanUs\":%.2f,\"non2xx\":%d,\"errConnect\":%d,\"errRead\":%d,\"errWrite\":%d,\"errTimeout\":%d}\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end

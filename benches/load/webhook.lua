-- wrk script of benches/load.sh: POSTs one signed GitHub webhook as Prow's hook does, with
-- a fresh X-GitHub-Delivery per request (a receiver that de-duplicates deliveries does
-- its real work each time), and prints one machine-readable RESULT line at the end.
--
-- wrk -s webhook.lua URL -- BODY_FILE SIGNATURE EVENT
--   BODY_FILE  the payload, sent byte for byte
--   SIGNATURE  its X-Hub-Signature-256 value (sha256=<hex>), computed by the caller
--   EVENT      the X-GitHub-Event value

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"), "cannot open the body file " .. args[1])
  body = file:read("*a")
  file:close()
  signature = args[2]
  event = args[3]
  prefix = string.format("wrk-%d-%d-", os.time(), thread_id)
  sent = 0
end

function request()
  sent = sent + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "ProwHook",
    ["X-GitHub-Event"] = event,
    ["X-GitHub-Delivery"] = prefix .. sent,
    ["X-Hub-Signature-256"] = signature,
  }, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  print(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end

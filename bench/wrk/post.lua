-- wrk script of the benchmark: POSTs one JSON body (read from a file) with an Authorization
-- header, counts responses that are not 2xx or that carry GraphQL errors, and prints one
-- machine-readable summary line (BENCH {...}) that the bench binary reads.
--
-- wrk -t2 -c8 -d5s -s post.lua URL -- BODY_FILE AUTHORIZATION

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  req = wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = args[2],
  }, body)
  bad = 0
end

function request()
  return req
end

function response(status, headers, body)
  if status < 200 or status > 299 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bad": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, "mean_us": %f}\n',
    summary.requests, summary.duration, total_bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end

-- wrk script of the benchmark: POSTs one JSON body (read from a file) with an Authorization
-- header and prints one machine-readable summary line (BENCH {...}) that the bench binary reads.
--
-- It defines no `response` function: with one, wrk hands every response's headers and body to
-- Lua, which cost about 13 µs of CPU per request here, taken from the two cores the server and
-- PostgreSQL share. Errors are counted without it: wrk itself counts responses that are not 2xx
-- or 3xx and socket errors, and the bench reads the server's count of GraphQL responses that
-- carried errors from GET /metrics before and after each measurement.
--
-- wrk -t2 -c8 -d5s -s post.lua URL -- BODY_FILE AUTHORIZATION

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  req = wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = args[2],
  }, body)
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d, "mean_us": %f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end

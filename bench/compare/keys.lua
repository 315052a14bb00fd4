-- wrk script for scripts/bench: every request GETs PREFIX<n>, n uniform in
-- 0..N-1, so cairn and nginx are driven over the same key set.
--
--   wrk -t T -c C -d D -s keys.lua http://127.0.0.1:PORT -- PREFIX N
--
-- PREFIX is the URL path up to the key number (/v1/blobs/cmp4k/ for cairn,
-- /cmp4k/ for nginx). At the end one line "WRKJSON {...}" gives the totals,
-- error counts and latency percentiles (microseconds) for the script to read.

local threads = {}
local prefix = "/"
local nkeys = 1

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   prefix = args[1] or "/"
   nkeys = tonumber(args[2] or "1")
   math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
   return wrk.format("GET", prefix .. math.random(0, nkeys - 1))
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max))
end

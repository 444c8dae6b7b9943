-- wrk reporter: one machine-readable line with requests, seconds, latency percentiles (µs)
-- and errors, read by compare.sh.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.3f %d %d %d %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.status + e.timeout))
end

-- wrk script for `make bench`: POSTs a ~1 KB chat completion and prints one
-- machine-readable RESULT line (latencies in microseconds).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench"
local filler = string.rep("The quick brown fox jumps over the lazy dog. ", 18)
wrk.body = '{"model":"' .. (os.getenv("BENCH_MODEL") or "bench") .. '","messages":[' ..
  '{"role":"system","content":"You are a concise assistant."},' ..
  '{"role":"user","content":"Summarise this text in one sentence: ' .. filler .. '"}],' ..
  '"temperature":0.2,"max_tokens":64}'

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT requests=%d errors=%d rps=%.1f p50=%.1f p90=%.1f p99=%.1f mean=%.1f\n",
    summary.requests, errs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end

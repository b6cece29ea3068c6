#!/usr/bin/env bash
# stream.sh: the streaming section of `make bench` (printed as Markdown on
# stdout; progress on stderr). A fake upstream streams STREAM_CHUNKS content
# events STREAM_INTERVAL apart; benchstream keeps 100, then 1,000 streams
# open in a closed loop, first straight at the upstream ("direct"), then
# through llmrouter, which runs alone on its own core. Reported: time to
# first byte added by the proxy (p50/p99, proxied minus direct in the same
# run), llmrouter's CPU per relayed event, and its RSS idle and at each
# concurrency.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHUNKS=${STREAM_CHUNKS:-200}
INTERVAL=${STREAM_INTERVAL:-20ms}
DURATION=${STREAM_DURATION:-12s}
WARMUP=${STREAM_WARMUP:-5s}
UP=127.0.0.1:19310
PX=127.0.0.1:19311
work=$(mktemp -d /tmp/llmrouter-stream.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
log() { printf 'bench/stream: %s\n' "$*" >&2; }

if [ "$(nproc)" -ge 2 ]; then CORE_LOAD=0; CORE_PROXY=1; else CORE_LOAD=0; CORE_PROXY=0; fi
ulimit -n 65536 2>/dev/null || true

go build -o "$work/llmrouter" ./cmd/llmrouter
go build -o "$work/benchupstream" ./cmd/benchupstream
go build -o "$work/benchstream" ./cmd/benchstream

taskset -c $CORE_LOAD "$work/benchupstream" -listen $UP -stream-chunks "$CHUNKS" -stream-interval "$INTERVAL" 2>"$work/up.log" &
pids+=($!)
cat >"$work/px.yaml" <<YAML
server: {listen: "$PX"}
auth: {mode: none}
providers:
  - {name: up, type: openai, base_url: "http://$UP/v1", api_key_env: BENCH_UPSTREAM_KEY, max_conns: 4096}
models:
  bench: [{provider: up, model: bench-model}]
routing:
  tiers:
    small: {chain: [{provider: up, model: bench-model}]}
    medium: {chain: [{provider: up, model: bench-model}]}
    large: {chain: [{provider: up, model: bench-model}]}
cache:
  exact: {enabled: false}
  semantic: {enabled: false}
prices:
  bench-model: {input: 1.0, output: 2.0}
YAML
BENCH_UPSTREAM_KEY=bench taskset -c $CORE_PROXY "$work/llmrouter" -config "$work/px.yaml" >/dev/null 2>"$work/px.log" &
PX_PID=$!; pids+=("$PX_PID")
for _ in $(seq 1 100); do curl -fsS "http://$PX/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$PX/healthz" >/dev/null || { log "llmrouter did not start"; cat "$work/px.log" >&2; exit 1; }
sleep 1
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -E "s/.* $2=([0-9.]+).*/\1/" <<<"$1"; }
CLK=$(getconf CLK_TCK)
IDLE_KB=$(rss_kb "$PX_PID")

declare -A D P RSS CPU
for c in 100 1000; do
  log "$c streams direct"
  D[$c]=$(taskset -c $CORE_LOAD "$work/benchstream" -url "http://$UP/v1/chat/completions" -streams "$c" -duration "$DURATION" -warmup "$WARMUP")
  log "$c streams through llmrouter"
  : >"$work/rss.$c"
  ( while kill -0 "$PX_PID" 2>/dev/null; do rss_kb "$PX_PID" >>"$work/rss.$c"; sleep 0.2; done ) &
  sampler=$!
  t0=$(cpu_ticks "$PX_PID")
  P[$c]=$(taskset -c $CORE_LOAD "$work/benchstream" -url "http://$PX/v1/chat/completions" -streams "$c" -duration "$DURATION" -warmup "$WARMUP")
  t1=$(cpu_ticks "$PX_PID")
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  RSS[$c]=$(sort -n "$work/rss.$c" | tail -1)
  ev=$(field "${P[$c]}" events)
  CPU[$c]=$(awk -v t=$((t1 - t0)) -v clk="$CLK" -v n="$ev" 'BEGIN {if (n == 0) print "n/a"; else printf "%.2f", t / clk * 1e6 / n}')
  sleep 1
done

over() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", a - b}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f", a / b}'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v != "n/a" && v + 0 <= t + 0) ? "met" : "not met"}'; }
add99=$(over "$(field "${P[1000]}" ttfb_p99_us)" "$(field "${D[1000]}" ttfb_p99_us)")

cat <<MD
## Streaming (issue 14)

A fake upstream streams $CHUNKS content events $INTERVAL apart, then finish, usage and \`[DONE]\`;
\`cmd/benchstream\` keeps N streams open in a closed loop for $DURATION (TTFB sampled on streams
started after $WARMUP), first straight at the upstream, then through llmrouter (pinned alone to
core $CORE_PROXY; the upstream and the load generator share core $CORE_LOAD). Produced by
\`scripts/bench/stream.sh\`.

| target | measured | |
|---|---|---|
| TTFB added < 1 ms at p99 with 1,000 concurrent streams | $add99 µs | $(verdict "$add99" 1000) |
| <= 5 µs CPU per relayed chunk (1,000 streams) | ${CPU[1000]} µs | $(verdict "${CPU[1000]}" 5) |
| RSS < 150 MB at 1,000 streams | $((RSS[1000] / 1024)) MiB | $(verdict $((RSS[1000] / 1024)) 150) |
| RSS <= 40 MB idle | $((IDLE_KB / 1024)) MiB | $(verdict $((IDLE_KB / 1024)) 40) |

| streams | run | completed | failed | events | TTFB p50 µs | TTFB p99 µs | llmrouter CPU µs/event | llmrouter peak RSS MiB |
|---:|---|---:|---:|---:|---:|---:|---:|---:|
| 100 | direct | $(field "${D[100]}" ok) | $(field "${D[100]}" failed) | $(field "${D[100]}" events) | $(field "${D[100]}" ttfb_p50_us) | $(field "${D[100]}" ttfb_p99_us) | | |
| 100 | through llmrouter | $(field "${P[100]}" ok) | $(field "${P[100]}" failed) | $(field "${P[100]}" events) | $(field "${P[100]}" ttfb_p50_us) | $(field "${P[100]}" ttfb_p99_us) | ${CPU[100]} | $((RSS[100] / 1024)) |
| 1000 | direct | $(field "${D[1000]}" ok) | $(field "${D[1000]}" failed) | $(field "${D[1000]}" events) | $(field "${D[1000]}" ttfb_p50_us) | $(field "${D[1000]}" ttfb_p99_us) | | |
| 1000 | through llmrouter | $(field "${P[1000]}" ok) | $(field "${P[1000]}" failed) | $(field "${P[1000]}" events) | $(field "${P[1000]}" ttfb_p50_us) | $(field "${P[1000]}" ttfb_p99_us) | ${CPU[1000]} | $((RSS[1000] / 1024)) |

- TTFB added at 100 streams: p50 $(over "$(field "${P[100]}" ttfb_p50_us)" "$(field "${D[100]}" ttfb_p50_us)") µs, p99 $(over "$(field "${P[100]}" ttfb_p99_us)" "$(field "${D[100]}" ttfb_p99_us)") µs
  (proxied/direct p50 ratio $(ratio "$(field "${P[100]}" ttfb_p50_us)" "$(field "${D[100]}" ttfb_p50_us)")); at 1,000: p50
  $(over "$(field "${P[1000]}" ttfb_p50_us)" "$(field "${D[1000]}" ttfb_p50_us)") µs, p99 $add99 µs.
- Memory per open stream: ($((RSS[1000] / 1024)) - $((IDLE_KB / 1024))) MiB over 1,000 streams, about
  $(awk -v a="${RSS[1000]}" -v b="$IDLE_KB" 'BEGIN {printf "%.0f", (a - b) / 1000}') KiB each (RSS, so it includes the Go heap's slack).
MD

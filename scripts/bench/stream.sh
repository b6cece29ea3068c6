#!/usr/bin/env bash
# stream.sh: the streaming section of `make bench` (printed as Markdown on
# stdout; progress on stderr). A fake upstream streams STREAM_CHUNKS content
# events STREAM_INTERVAL apart; benchstream keeps 100, then 1,000 streams
# open in a closed loop, first straight at the upstream ("direct"), then
# through llmrouter, which runs alone on its own core. Reported: time to
# first byte added by the proxy (p50/p99, proxied minus direct in the same
# run), llmrouter's CPU per relayed event, and its RSS idle and at each
# concurrency, once per flush policy (server.stream_coalesce: 0s flushes
# every event; STREAM_COALESCE, default 200us, holds events that long).
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

COALESCE=${STREAM_COALESCE:-200us}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
go build -o "$work/llmrouter" ./cmd/llmrouter
go build -o "$work/benchupstream" ./cmd/benchupstream
go build -o "$work/benchstream" ./cmd/benchstream

taskset -c $CORE_LOAD "$work/benchupstream" -listen $UP -stream-chunks "$CHUNKS" -stream-interval "$INTERVAL" 2>"$work/up.log" &
pids+=($!)
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -E "s/.* $2=([0-9.]+).*/\1/" <<<"$1"; }
CLK=$(getconf CLK_TCK)
events_relayed() {
  curl -fsS "http://$PX/metrics" | awk '/^llmrouter_proxy_stream_events_total/ && /kind="chunk"/ {s += $NF} END {printf "%d", s}'
}
WARM_S=${WARMUP%s}; STEADY_S=$(( ${DURATION%s} - WARM_S - 1 ))
load() { taskset -c $CORE_LOAD "$work/benchstream" -url "$1" -streams "$2" -duration "$DURATION" -warmup "$WARMUP"; }

declare -A D P RSS CPU IDLE
for c in 100 1000; do
  log "$c streams direct"
  D[$c]=$(load "http://$UP/v1/chat/completions" "$c")
done

for pol in 0s "$COALESCE"; do
  cat >"$work/px.yaml" <<YAML
server: {listen: "$PX", stream_coalesce: $pol, metrics_listen: "off"}
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
  IDLE[$pol]=$(rss_kb "$PX_PID")
  for c in 100 1000; do
    log "$c streams through llmrouter (stream_coalesce $pol)"
    : >"$work/rss.$c"
    ( while kill -0 "$PX_PID" 2>/dev/null; do rss_kb "$PX_PID" >>"$work/rss.$c"; sleep 0.2; done ) &
    sampler=$!
    # CPU per event over the steady state (warm-up to one second before
    # the end): llmrouter's CPU ticks against its own count of relayed
    # chunk events, so stream set-up and ramp are not in it.
    load "http://$PX/v1/chat/completions" "$c" >"$work/res" &
    lp=$!
    sleep "$WARM_S"
    t0=$(cpu_ticks "$PX_PID"); e0=$(events_relayed)
    sleep "$STEADY_S"
    t1=$(cpu_ticks "$PX_PID"); e1=$(events_relayed)
    wait "$lp"
    P[$pol,$c]=$(cat "$work/res")
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    RSS[$pol,$c]=$(( $(sort -n "$work/rss.$c" | tail -1) / 1024 ))
    CPU[$pol,$c]=$(awk -v t=$((t1 - t0)) -v clk="$CLK" -v n=$((e1 - e0)) 'BEGIN {if (n <= 0) print "n/a"; else printf "%.2f", t / clk * 1e6 / n}')
    sleep 1
  done
  kill "$PX_PID" 2>/dev/null || true; wait "$PX_PID" 2>/dev/null || true
done

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
over() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", a - b}'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v != "n/a" && v + 0 <= t + 0) ? "met" : "not met"}'; }
lt() { awk -v v="$1" -v t="$2" 'BEGIN {print (v != "n/a" && v + 0 < t + 0) ? "met" : "not met"}'; }
# ttfb_verdict POLICY: the p99 target is judged only against a direct
# baseline that is itself below 100 ms at p99; above that the load
# generator's core is saturated and the difference is noise.
ttfb_verdict() {
  local a d
  a=$(added "$1" 1000 p99); d=$(field "${D[1000]}" ttfb_p99_us)
  if [ "$d" -gt 100000 ]; then echo "$a µs, inconclusive (direct p99 $((d / 1000)) ms: load generator saturated)"
  else echo "$a µs, $(lt "$a" 1000)"; fi
}
added() { over "$(field "${P[$1,$2]}" "ttfb_$3_us")" "$(field "${D[$2]}" "ttfb_$3_us")"; }

ttfb_row() { local v; v=$(ttfb_verdict "$1"); echo "${v%%, *} | ${v#*, }"; }
if [ -n "${BENCH_TARGETS:-}" ]; then # rows for the targets table of scripts/bench.sh
  {
    echo "| issue 14: streaming TTFB added < 1 ms at p99, 1,000 streams (flush per event) | $(ttfb_row 0s) |"
    echo "| issue 14: ≤ 5 µs CPU per relayed chunk, 1,000 streams | ${CPU[0s,1000]} µs (coalesce $COALESCE: ${CPU[$COALESCE,1000]} µs) | $(verdict "${CPU[0s,1000]}" 5) |"
    echo "| issue 14: RSS < 150 MB at 1,000 streams | ${RSS[0s,1000]} MiB | $(lt "${RSS[0s,1000]}" 150) |"
    echo "| issue 14: RSS ≤ 40 MB idle | $((IDLE[0s] / 1024)) MiB | $(verdict $((IDLE[0s] / 1024)) 40) |"
  } >>"$BENCH_TARGETS"
fi

cat <<MD
## Streaming (issue 14)

A fake upstream streams $CHUNKS content events $INTERVAL apart, then finish, usage and \`[DONE]\`;
\`cmd/benchstream\` keeps N streams open in a closed loop for $DURATION (TTFB sampled on streams
started after $WARMUP), first straight at the upstream ("direct", the same-run baseline), then
through llmrouter (pinned alone to core $CORE_PROXY; the upstream and the load generator share
core $CORE_LOAD), once per flush policy: \`server.stream_coalesce: 0s\` (every event flushed,
the default) and \`$COALESCE\` (events after the first held up to $COALESCE and flushed
together). TTFB added is proxied minus direct at the same percentile. Produced by
\`scripts/bench/stream.sh\`.

| target (1,000 concurrent streams) | flush per event | coalesce $COALESCE |
|---|---|---|
| TTFB added < 1 ms at p99 | $(ttfb_verdict 0s) | $(ttfb_verdict "$COALESCE") |
| <= 5 µs CPU per relayed chunk | ${CPU[0s,1000]} µs, $(verdict "${CPU[0s,1000]}" 5) | ${CPU[$COALESCE,1000]} µs, $(verdict "${CPU[$COALESCE,1000]}" 5) |
| RSS < 150 MB | ${RSS[0s,1000]} MiB, $(lt "${RSS[0s,1000]}" 150) | ${RSS[$COALESCE,1000]} MiB, $(lt "${RSS[$COALESCE,1000]}" 150) |
| RSS <= 40 MB idle | $((IDLE[0s] / 1024)) MiB, $(verdict $((IDLE[0s] / 1024)) 40) | $((IDLE[$COALESCE] / 1024)) MiB, $(verdict $((IDLE[$COALESCE] / 1024)) 40) |

| streams | run | completed | failed | events | TTFB p50 µs | TTFB p99 µs | added p50 µs | added p99 µs | llmrouter CPU µs/event (steady state) | llmrouter peak RSS MiB |
|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
MD
for c in 100 1000; do
  echo "| $c | direct | $(field "${D[$c]}" ok) | $(field "${D[$c]}" failed) | $(field "${D[$c]}" events) | $(field "${D[$c]}" ttfb_p50_us) | $(field "${D[$c]}" ttfb_p99_us) | | | | |"
  for pol in 0s "$COALESCE"; do
    r=${P[$pol,$c]}
    echo "| $c | llmrouter, coalesce $pol | $(field "$r" ok) | $(field "$r" failed) | $(field "$r" events) | $(field "$r" ttfb_p50_us) | $(field "$r" ttfb_p99_us) | $(added "$pol" "$c" p50) | $(added "$pol" "$c" p99) | ${CPU[$pol,$c]} | ${RSS[$pol,$c]} |"
  done
done
cat <<MD

- Memory per open stream (flush per event): (${RSS[0s,1000]} - $((IDLE[0s] / 1024))) MiB over 1,000 streams, about
  $(awk -v a="${RSS[0s,1000]}" -v b="$((IDLE[0s] / 1024))" 'BEGIN {printf "%.0f", (a - b) * 1024 / 1000}') KiB each (RSS: the upstream connection and the Go heap's slack included;
  \`TestPerStreamMemoryIsBounded\` in \`proxy\` bounds the proxy's own share as a count).
- At 100 streams (about 5,000 events/s) each event wakes an otherwise idle llmrouter, so CPU per event
  there is mostly the kernel's and the Go scheduler's wake-up cost (read, write, epoll), not the relay's.
- Load average of the machine (1, 5, 15 min) at the start of the run: $LOAD0; at its end: $LOAD1. On two
  cores, anything above about 2 means other work shared the cores with this run and inflated its figures.
MD

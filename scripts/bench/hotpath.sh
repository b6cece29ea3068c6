#!/usr/bin/env bash
# hotpath.sh: issue 14's hot-path figures. Pass-through (exact cache off)
# and exact-cache hit at 1, 32 and 64 connections: requests/s, CPU µs per
# request of the measured process, allocations per request and peak RSS,
# stated as ratios against two baselines measured in the same run, the
# upstream called directly and a standard-library Go reverse proxy
# (cmd/benchstdproxy, httputil.ReverseProxy). Prints a Markdown section on
# stdout; progress on stderr. Ports 19400-19404.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/lib.sh

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5s}
CONNS=${BENCH_HOTPATH_CONNS:-1 32 64}
UP=127.0.0.1:19400
work=$(mktemp -d /tmp/llmrouter-hotpath.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
log() { printf 'bench/hotpath: %s\n' "$*" >&2; }
if [ "$(nproc)" -ge 2 ]; then CORE_LOAD=0; CORE_PROXY=1; else CORE_LOAD=0; CORE_PROXY=0; fi

log "building"
go build -o "$work/llmrouter" ./cmd/llmrouter
go build -o "$work/benchupstream" ./cmd/benchupstream
go build -o "$work/benchstdproxy" ./cmd/benchstdproxy
taskset -c $CORE_LOAD "$work/benchupstream" -listen $UP 2>/dev/null &
pids+=($!)
UP_PID=$!

config() { bench_config "$1" "$2" "$3" "$UP"; } # $1 file, $2 listen, $3 exact cache on/off
wait_up() { # $1 url
  for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "$1 did not come up"; cat "$work"/*.log >&2 || true; exit 1
}
declare -A ADDR PID
ADDR[pass]=127.0.0.1:19401; ADDR[hit]=127.0.0.1:19402; ADDR[std]=127.0.0.1:19403; ADDR[direct]=$UP
for m in pass hit; do
  on=false; [ $m = hit ] && on=true
  config "$work/$m.yaml" "${ADDR[$m]}" $on
  BENCH_UPSTREAM_KEY=bench taskset -c $CORE_PROXY "$work/llmrouter" -config "$work/$m.yaml" >/dev/null 2>>"$work/$m.log" &
  PID[$m]=$!; pids+=($!)
  wait_up "http://${ADDR[$m]}/healthz"
done
taskset -c $CORE_PROXY "$work/benchstdproxy" -listen "${ADDR[std]}" -upstream "http://$UP" 2>>"$work/std.log" &
PID[std]=$!; pids+=($!)
wait_up "http://${ADDR[std]}/allocs"
PID[direct]=$UP_PID

CLK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { sed -E "s/.* $2=([0-9.]+).*/\1/" <<<"$1"; }
allocs() { # $1 target -> heap objects allocated so far (empty when unknown)
  case $1 in
    pass|hit) curl -fsS "http://${ADDR[$1]}/metrics" | awk '$1 == "go_memstats_mallocs_total" {printf "%.0f\n", $2}' ;;
    std) curl -fsS "http://${ADDR[std]}/allocs" ;;
    *) echo "" ;;
  esac
}
wrk_run() { # $1 target $2 conns $3 duration -> RESULT line
  local threads=1
  [ "$2" -ge 16 ] && threads=2
  taskset -c $CORE_LOAD wrk -t$threads -c"$2" -d"$3" --timeout 5s -s scripts/bench/post.lua \
    "http://${ADDR[$1]}/v1/chat/completions" | grep '^RESULT'
}
TARGETS="direct std pass hit"
declare -A RPS TICKS REQS P50 ALLOC AREQS RSS
for c in $CONNS; do for k in $TARGETS; do
  RPS[$k-$c]=""; P50[$k-$c]=""; TICKS[$k-$c]=0; REQS[$k-$c]=0; ALLOC[$k-$c]=0; AREQS[$k-$c]=0; RSS[$k-$c]=0
done; done
log "warming up (the exact-hit instance stores the answer)"
for k in $TARGETS; do wrk_run $k 8 1s >/dev/null; done
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONNS; do
    log "round $r of $ROUNDS, $c connections"
    for k in $TARGETS; do
      pid=${PID[$k]}
      echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true # reset the peak RSS
      a0=$(allocs $k); a0b=$(allocs $k) # the second read prices a read itself
      t0=$(cpu_ticks "$pid")
      line=$(wrk_run $k "$c" "$DURATION")
      t1=$(cpu_ticks "$pid")
      a1=$(allocs $k)
      n=$(field "$line" requests)
      RPS[$k-$c]+="$(field "$line" rps) "; P50[$k-$c]+="$(field "$line" p50) "
      TICKS[$k-$c]=$((TICKS[$k-$c] + t1 - t0)); REQS[$k-$c]=$((REQS[$k-$c] + n))
      if [ -n "$a1" ]; then
        ALLOC[$k-$c]=$((ALLOC[$k-$c] + a1 - a0b - (a0b - a0))); AREQS[$k-$c]=$((AREQS[$k-$c] + n))
      fi
      hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
      [ "$hwm" -gt "${RSS[$k-$c]}" ] && RSS[$k-$c]=$hwm
    done
  done
done
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cpu() { awk -v t="${TICKS[$1]}" -v clk="$CLK" -v n="${REQS[$1]}" 'BEGIN {if (n == 0) print "n/a"; else printf "%.1f", t / clk * 1e6 / n}'; }
apr() { awk -v a="${ALLOC[$1]}" -v n="${AREQS[$1]}" 'BEGIN {if (n == 0) print "n/a"; else printf "%.0f", a / n}'; }
mb() { awk -v k="${RSS[$1]}" 'BEGIN {printf "%.0f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0 || a == "n/a" || b == "n/a") print "n/a"; else printf "%.2f", a / b}'; }
name() { case $1 in direct) echo "upstream direct";; std) echo "stdlib ReverseProxy";; pass) echo "llmrouter pass-through";; hit) echo "llmrouter exact hit";; esac; }
c32=32; [[ " $CONNS " == *" 32 "* ]] || c32=$(awk '{print $NF}' <<<"$CONNS")
vmax() { awk -v v="$1" -v t="$2" 'BEGIN {print (v != "n/a" && v + 0 <= t + 0) ? "met" : "not met"}'; }
vmin() { awk -v v="$1" -v t="$2" 'BEGIN {print (v != "n/a" && v + 0 >= t + 0) ? "met" : "not met"}'; }
if [ -n "${BENCH_TARGETS:-}" ]; then # rows for the targets table of scripts/bench.sh
  added1=$(awk -v a="$(med "${P50[pass-1]:-0}")" -v b="$(med "${P50[direct-1]:-0}")" 'BEGIN {printf "%.0f", a - b}')
  std1=$(awk -v a="$(med "${P50[std-1]:-0}")" -v b="$(med "${P50[direct-1]:-0}")" 'BEGIN {printf "%.0f", a - b}')
  hitx=$(ratio "$(med "${RPS[hit-$c32]}")" "$(med "${RPS[direct-$c32]}")")
  {
    echo "| issue 14: pass-through ≤ 30 µs CPU per request ($c32 conns) | $(cpu pass-$c32) µs ($(ratio "$(cpu pass-$c32)" "$(cpu std-$c32)")x the stdlib proxy's) | $(vmax "$(cpu pass-$c32)" 30) |"
    echo "| issue 14: pass-through ≥ 27,000 req/s on its core ($c32 conns) | $(med "${RPS[pass-$c32]}") req/s (stdlib proxy $(med "${RPS[std-$c32]}")) | $(vmin "$(med "${RPS[pass-$c32]}")" 27000) |"
    echo "| issue 14: exact hit ≤ 15 µs CPU per request ($c32 conns) | $(cpu hit-$c32) µs ($(ratio "$(cpu hit-$c32)" "$(cpu pass-$c32)")x a pass-through) | $(vmax "$(cpu hit-$c32)" 15) |"
    echo "| issue 14: exact hit ≥ the direct upstream's req/s ($c32 conns) | ${hitx}x | $(vmin "$hitx" 1) |"
    echo "| issue 14: 1 connection p50 added ≤ 120 µs | $added1 µs (stdlib proxy $std1 µs) | $(vmax "$added1" 120) |"
  } >>"$BENCH_TARGETS"
fi
cat <<MD

## Hot path: pass-through and exact hit at 1, 32 and 64 connections (issue 14)

\`scripts/bench/hotpath.sh\`: wrk and the zero-latency upstream (\`cmd/benchupstream\`) on core $CORE_LOAD,
the measured proxy alone on core $CORE_PROXY; the ~1 KB POST of \`scripts/bench/post.lua\`; $ROUNDS rounds of
$DURATION per connection count, medians of req/s and p50, CPU and allocations summed over the rounds.
CPU µs/request is the measured process's own CPU (the upstream's for "upstream direct"). Baselines in
the same run: the upstream called directly, and \`cmd/benchstdproxy\` (\`httputil.ReverseProxy\`, which
parses nothing). Allocations come from each Go process's own counter (the upstream has none);
peak RSS is VmHWM, reset before each measurement.

| conns | path | req/s | CPU µs/request | allocs/request | peak RSS MB | p50 µs | req/s vs direct | CPU vs stdlib proxy |
|---:|---|---:|---:|---:|---:|---:|---:|---:|
MD
for c in $CONNS; do
  for k in $TARGETS; do
    echo "| $c | $(name $k) | $(med "${RPS[$k-$c]}") | $(cpu $k-$c) | $(apr $k-$c) | $(mb $k-$c) | $(med "${P50[$k-$c]}") | $(ratio "$(med "${RPS[$k-$c]}")" "$(med "${RPS[direct-$c]}")")x | $(ratio "$(cpu $k-$c)" "$(cpu std-$c)")x |"
  done
done
cat <<MD

Against the targets (issue 14, at $c32 connections): pass-through **$(cpu pass-$c32) µs** CPU per request
(target ≤ 30; $(ratio "$(cpu pass-$c32)" "$(cpu std-$c32)")x the stdlib proxy's), **$(med "${RPS[pass-$c32]}")** req/s on its core
(target ≥ 27,000); exact hit **$(cpu hit-$c32) µs** (target ≤ 15), $(ratio "$(cpu hit-$c32)" "$(cpu pass-$c32)")x a pass-through,
$(ratio "$(med "${RPS[hit-$c32]}")" "$(med "${RPS[direct-$c32]}")")x the direct upstream's req/s (target ≥ 1x). At 1 connection the p50 added over direct
is $(awk -v a="$(med "${P50[pass-1]:-0}")" -v b="$(med "${P50[direct-1]:-0}")" 'BEGIN {printf "%.0f", a - b}') µs for a pass-through against $(awk -v a="$(med "${P50[std-1]:-0}")" -v b="$(med "${P50[direct-1]:-0}")" 'BEGIN {printf "%.0f", a - b}') µs for the stdlib proxy
(target ≤ 120; about 100 µs of it is the wake-up between cores).
MD

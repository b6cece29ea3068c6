#!/usr/bin/env bash
# wireapi.sh: added overhead of the /v1/messages and /v1/responses codecs
# against /v1/chat/completions on the same pass-through setup. In-process
# handler benchmarks (no network): proxy.BenchmarkWireAPIsInterleaved runs
# the three APIs in turn in every iteration and reports each one's time as
# a ratio to chat's (so the ratios share one time window on a loaded
# machine); proxy.BenchmarkWireAPIs gives allocations per request. Prints a
# Markdown section on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${WIREAPI_BENCH_COUNT:-5}
TIME=${WIREAPI_BENCH_TIME:-1s}
ratios=$(go test -run '^$' -bench '^BenchmarkWireAPIsInterleaved$' -benchtime "$TIME" -count "$COUNT" ./proxy/)
allocs=$(go test -run '^$' -bench '^BenchmarkWireAPIs$' -benchtime 2000x -count 1 ./proxy/)
{ echo "$ratios"; echo "$allocs"; } | awk -v count="$COUNT" '
function median(arr, k,   i, j, t) {
  for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
  return (k % 2) ? arr[(k + 1) / 2] : (arr[k / 2] + arr[k / 2 + 1]) / 2
}
/^BenchmarkWireAPIsInterleaved/ {
  n++
  for (i = 1; i <= NF; i++) {
    if ($i == "messages/chat") m[n] = $(i - 1)
    if ($i == "responses/chat") r[n] = $(i - 1)
  }
}
/^BenchmarkWireAPIs\// {
  split($1, p, "/"); name = p[2]; sub(/-[0-9]+$/, "", name)
  bytes[name] = $5; al[name] = $7
}
END {
  print "## Inbound wire APIs: overhead against chat completions"
  print ""
  print "In-process handler benchmarks (`scripts/bench/wireapi.sh`; no network): the same short non-streamed request in"
  print "each API through auth, decode, validation, routing metadata, the shared pipeline (a completer that answers at"
  print "once), encoding, headers and metrics. The three APIs run in turn in every iteration, so each ratio is measured"
  print "in the same time window; median of " count " runs."
  print ""
  print "| API | proxy time per request vs chat | B/op | allocs/op |"
  print "|---|---|---|---|"
  printf "| /v1/chat/completions | 1.00x | %s | %s |\n", bytes["chat"], al["chat"]
  printf "| /v1/messages | %.2fx | %s | %s |\n", median(m, n), bytes["messages"], al["messages"]
  printf "| /v1/responses | %.2fx | %s | %s |\n", median(r, n), bytes["responses"], al["responses"]
  print ""
}'

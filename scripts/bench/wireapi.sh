#!/usr/bin/env bash
# wireapi.sh: added overhead of the /v1/messages and /v1/responses codecs
# against /v1/chat/completions on the same pass-through setup. In-process
# handler benchmark (proxy.BenchmarkWireAPIs: auth, decode, validate,
# encode, headers, metrics; a completer that answers at once; no network),
# the three APIs interleaved in each of COUNT rounds; medians compared.
# Prints a Markdown section on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${WIREAPI_BENCH_COUNT:-7}
out=$(go test -run '^$' -bench '^BenchmarkWireAPIs$' -benchtime "${WIREAPI_BENCH_TIME:-1s}" -count "$COUNT" ./proxy/)
echo "$out" | awk -v count="$COUNT" '
/^BenchmarkWireAPIs\// {
  split($1, p, "/"); name = p[2]; sub(/-[0-9]+$/, "", name)
  n[name]++; ns[name, n[name]] = $3; bytes[name] = $5; allocs[name] = $7
}
function median(name,   i, j, t, a, k) {
  k = n[name]
  for (i = 1; i <= k; i++) a[i] = ns[name, i] + 0
  for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
  base = median("chat")
  print "## Inbound wire APIs: overhead against chat completions"
  print ""
  print "In-process handler benchmark (`scripts/bench/wireapi.sh`, `proxy.BenchmarkWireAPIs`): the same short non-streamed"
  print "request in each API through auth, decode, validation, routing metadata, encoding, headers and metrics, with a"
  print "completer that answers at once (no network, so the figures are the codecs themselves). Median of " count " rounds."
  print ""
  print "| API | time per request vs chat | B/op | allocs/op |"
  print "|---|---|---|---|"
  split("chat messages responses", order, " ")
  for (i = 1; i <= 3; i++) {
    nm = order[i]
    printf "| %s | %.2fx | %s | %s |\n", (nm == "chat" ? "/v1/chat/completions" : (nm == "messages" ? "/v1/messages" : "/v1/responses")), median(nm) / base, bytes[nm], allocs[nm]
  }
  print ""
}'

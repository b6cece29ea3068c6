#!/usr/bin/env bash
# Cost of OpenTelemetry tracing on one request through the whole proxy
# (cmd/llmrouter BenchmarkTracing): off, on with every trace exported, and
# on with nothing sampled. Prints a Markdown section; figures are ratios
# against "off" measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT="${COUNT:-5}"
N="${N:-3000x}"
OUT=$(go test -run '^$' -bench '^BenchmarkTracing$' -benchtime="$N" -count="$COUNT" ./cmd/llmrouter 2>&1)
echo "$OUT" | grep -q '^ok' || { echo "$OUT" >&2; exit 1; }
echo "## Tracing cost (OpenTelemetry over OTLP/HTTP)"
echo
echo "One non-streamed chat request through the wired graph over loopback (exact cache on, every"
echo "request a miss, request log in memory), $COUNT runs of $N each, medians. \"sampled\" exports"
echo "every span over OTLP/HTTP to an in-process collector that discards them; the proxy, its"
echo "upstream and the client share the same cores, so the batch exporter's CPU is in the figure."
echo
echo "$OUT" | awk '
/^BenchmarkTracing\// {
  split($1, p, "/"); name = p[2]; sub(/-[0-9]+$/, "", name)
  for (i = 2; i <= NF; i++) { if ($(i+1) == "ns/op") ns[name] = ns[name] " " $i; if ($(i+1) == "allocs/op") al[name] = al[name] " " $i; if ($(i+1) == "B/op") by[name] = by[name] " " $i }
}
function median(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
END {
  base = median(ns["off"]); balloc = median(al["off"])
  print "| tracing | ns/op | vs off | allocs/op | B/op |"
  print "|---|---:|---:|---:|---:|"
  split("off sampled unsampled", order, " ")
  for (k = 1; k <= 3; k++) { n = order[k]; m = median(ns[n]); printf "| %s | %d | %.2fx | %d | %d |\n", n, m, m / base, median(al[n]), median(by[n]) }
}'

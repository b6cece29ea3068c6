#!/bin/sh
# Refreshes the vendored uPlot chart library that the cost dashboard embeds
# (proxy/dashboard/). The files are committed, so `go build` needs no npm;
# run this only to change the version.
set -eu
version="${1:-1.6.32}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "uplot@$version" >/dev/null && tar xzf uplot-*.tgz)
dst="$(dirname "$0")/../proxy/dashboard"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$dst/"
cp "$tmp/package/LICENSE" "$dst/uPlot.LICENSE"
echo "uPlot $version vendored into $dst"

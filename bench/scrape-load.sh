#!/usr/bin/env bash
# wrk against /metrics while a one-thread fault storm runs: latency percentiles, requests/s, errors.
# Root; build first (npm run build). Usage: bench/scrape-load.sh [serve flags]; CONNECTIONS (100)
# and DURATION (30, seconds) size the load.
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/scrape-load.sh: wrk not found: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d); trap 'touch "$tmp/stop"; rm -rf "$tmp"' EXIT
node dist/cli/main.js serve --web.listen-address=127.0.0.1:0 "$@" 2>"$tmp/serve.err" & EP=$!
for i in $(seq 100); do grep -q serving "$tmp/serve.err" && break; sleep 0.1; done
url=$(grep -o "http://[^/]*" "$tmp/serve.err" | head -1)
[ -n "$url" ] || { cat "$tmp/serve.err" >&2; exit 1; }
build/test/workload storm 64 "$tmp/stop" > /dev/null & WP=$!
sleep 1
wrk -t2 -c${CONNECTIONS:-100} -d${DURATION:-30}s --timeout 10s --latency "$url/metrics"
touch "$tmp/stop"; wait $WP
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; exporter peak RSS $(awk '/VmHWM/{print $2}' /proc/$EP/status) kB"
kill $EP; wait $EP 2>/dev/null

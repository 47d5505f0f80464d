#!/usr/bin/env bash
# serve --event-log on a fault storm of one process: the worst /healthz time, lines on disk
# during the storm, the exporter's peak RSS, drops. Root; build first (npm run build, bash bench/build.sh).
# Usage: bench/event-log-storm.sh [serve flags]; ROUNDS (40) and THREADS (1) size the storm.
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; mkfifo "$tmp/go"
build/storm 64 ${ROUNDS:-40} ${THREADS:-1} wait < "$tmp/go" > "$tmp/storm.out" & SPID=$!
exec 3>"$tmp/go"
node dist/cli/main.js serve --web.listen-address=127.0.0.1:0 --event-log "$tmp/ev.ndjson" --event-log.pid $SPID "$@" 2>"$tmp/serve.err" & EP=$!
for i in $(seq 100); do grep -q serving "$tmp/serve.err" && break; sleep 0.1; done
url=$(grep -o "http://[^/]*" "$tmp/serve.err" | head -1)
echo go >&3; exec 3>&-
max=0; peak=0; mid=""
while kill -0 $SPID 2>/dev/null; do
  t=$(curl -s -o /dev/null -w '%{time_total}' "$url/healthz"); max=$(awk -v a="$max" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
  r=$(awk '/VmRSS/{print $2}' /proc/$EP/status); [ "$r" -gt "$peak" ] && peak=$r
  [ -z "$mid" ] && mid=$(cat "$tmp"/ev.ndjson* 2>/dev/null | wc -l)
  sleep 0.1
done
cat "$tmp/storm.out"
sleep 1
curl -s "$url/metrics" | grep -E "^faultline_(ringbuf_lost|event_log_(records|dropped))" 
kill $EP; wait $EP
echo "healthz max ${max}s, peak RSS ${peak} kB, lines on disk at the first poll: $mid, total lines: $(cat "$tmp"/ev.ndjson* | wc -l)"
tail -1 "$tmp/serve.err"

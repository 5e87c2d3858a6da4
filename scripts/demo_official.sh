#!/usr/bin/env bash
# The official side of `make demo`: every simulated machine signs its sheet and transmits it over HTTP
# to a real server on localhost; the council announces a bulletin; an observer mirrors the log and
# verifies every leaf, checkpoint and bulletin. Usage: scripts/demo_official.sh BIN_DIR DEMO_DIR
set -euo pipefail
bin=$1 demo=$2
port=${TALLYPROOF_DEMO_PORT:-8765}
db=$demo/central.db key=$demo/log.key
rm -rf "$db" "$db"-wal "$db"-shm "$key" "$demo/mirror"
"$bin/tallyproof" init --election ve2024 --db "$db"
"$bin/tallyproof" keys import "$demo/machines.csv" --db "$db"
"$bin/tallyproof" log keygen --log-key "$key"
"$bin/tallyproof" serve --db "$db" --log-key "$key" --port "$port" --workers 2 > "$demo/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    "$bin/python" -c "import httpx, sys; sys.exit(httpx.get('http://127.0.0.1:$port/v1/log.pub').status_code != 200)" 2>/dev/null && break
    sleep 0.2
done
"$bin/tallyproof" transmit "http://127.0.0.1:$port" "$demo/signed.txt" --parallel 64
"$bin/tallyproof" log bulletin --log-key "$key" --db "$db"
"$bin/tallyproof" mirror "http://127.0.0.1:$port" "$demo/mirror"
"$bin/tallyproof" verify-log "$demo/mirror"

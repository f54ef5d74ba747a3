#!/bin/bash
# What scraping /metrics costs the SMTP ingest.  Each round starts a fresh
# daemon from this checkout and runs bench/smtp_ingest.py twice against it:
# once alone, once beside bench/metrics_scrape.py polling /metrics every
# second; odd rounds run "alone" first, even rounds "scraped" first.
#
#   bench/metrics_cost.sh [rounds] [messages]      (default 4 rounds of 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
messages=${2:-20000}
python=${PYTHON:-.venv/bin/python}
api=${API_PORT:-3991}
smtp=${SMTP_PORT:-2991}

bench() {
  "$python" bench/smtp_ingest.py -n "$messages" -c 10 --size 2048 --port "$smtp" --api-port "$api" \
    | grep -E 'msgs/s' | tr -s ' '
}

for round in $(seq "$rounds"); do
  dir=$(mktemp -d)
  PYTHONPATH=$PWD API_PORT=$api SMTP_PORT=$smtp BIND_ADDRESS=127.0.0.1 \
    DATABASE_URL="sqlite:$dir/mail.db" SMTP_MAX_CONNECTIONS=200 \
    "$python" -c 'from twisted.scripts.twistd import run; run()' -n --pidfile= tempmail \
    > "$dir/daemon.log" 2>&1 &
  daemon=$!
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$api/readyz" > /dev/null && break
    sleep 0.2
  done
  alone() { echo "round $round alone:   $(bench)"; }
  scraped() {
    "$python" bench/metrics_scrape.py --url "http://127.0.0.1:$api/metrics" --interval 1 \
      > "$dir/scrape.txt" 2>&1 &
    scraper=$!
    echo "round $round scraped: $(bench)"
    kill -TERM "$scraper"
    wait "$scraper" || true
    echo "  $(cat "$dir/scrape.txt")"
  }
  if [ $((round % 2)) = 1 ]; then alone; scraped; else scraped; alone; fi
  kill -TERM "$daemon"
  wait "$daemon" || true
  rm -rf "$dir"
done

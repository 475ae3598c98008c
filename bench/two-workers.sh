#!/bin/bash
# Does a second proxy process pay on this machine (issue 17, "optionally, use both cores")?
# Measured before building it, in one run, with wrk against one loopback upstream (the same one
# as proxy-vs-nginx.sh):
#   floor-1   a bare undici pass-through, one process (forwarding only, as in proxy-cpu.mjs)
#   floor-2   the same under node:cluster, two workers sharing the listening socket
#   ours-1    one key holder (`agentsecrets proxy start`), 64 connections
#   ours-2    two independent key holders (two state folders), 32 connections each, at once:
#             an upper bound for any two-worker key holder, which would also have to share
#             its audit writer, rate-limit counters and approvals queue between the workers
# Usage: bash bench/two-workers.sh [BIN]   (BIN: the built CLI; default dist/src/cli/main.js)
# Needs: wrk. ROUNDS= (default 2), DURATION= (default 10s).
set -u
BIN=$(realpath "${1:-dist/src/cli/main.js}")
UNDICI=$(realpath "$(dirname "$BIN")/../../../node_modules/undici")
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { echo "needs wrk" >&2; exit 2; }
D=$(mktemp -d)
trap 'kill $(cat $D/pids 2>/dev/null) 2>/dev/null; sleep 0.3; rm -rf $D' EXIT

cat > $D/up.mjs <<'JS'
import http from 'node:http';
const body = JSON.stringify({ object: 'balance', available: [{ amount: 420000, currency: 'usd' }] });
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); }); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => { process.stdout.write(String(s.address().port) + '\n'); });
JS
cat > $D/floor.cjs <<'JS'
const cluster = require('node:cluster');
const workers = Number(process.env.WORKERS);
if (workers > 1 && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE; // each worker accepts on the shared socket
  for (let i = 0; i < workers; i++) cluster.fork();
  let up = 0;
  cluster.on('message', (_w, port) => { if (++up === workers) process.stdout.write(port + '\n'); });
} else {
  const http = require('node:http');
  const { Agent, request } = require(process.env.UNDICI);
  const agent = new Agent({ keepAliveTimeout: 60000 });
  const server = http.createServer(async (req, res) => {
    req.resume();
    try {
      const up = await request(process.env.UPSTREAM + '/', { dispatcher: agent, headers: { authorization: 'Bearer reference' } });
      const body = Buffer.from(await up.body.arrayBuffer());
      res.writeHead(up.statusCode, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    } catch { res.writeHead(502); res.end(); }
  });
  server.keepAliveTimeout = 60000;
  server.listen(Number(process.env.PORT), '127.0.0.1', () => {
    const port = String(server.address().port);
    if (process.send) process.send(port); else process.stdout.write(port + '\n');
  });
}
JS
node $D/up.mjs > $D/up.port & echo $! >> $D/pids
for _ in $(seq 50); do [ -s $D/up.port ] && break; sleep 0.1; done
UP=$(head -1 $D/up.port)

# A key holder in its own state folder: prints "port token" into $D/ours$1.
keyholder() {
  local home=$D/h$1
  mkdir -p $home
  (
    export HOME=$home AGENTSECRETS_HOME=$home/.as AGENTSECRETS_PASSPHRASE=bench-passphrase AGENTSECRETS_ALLOW_PRIVATE=127.0.0.1/32
    cd $home
    node $BIN init --backend passphrase >/dev/null 2>&1
    printf 'sk_bench_value_0123456789abcdef' | node $BIN secrets set STRIPE_KEY >/dev/null 2>&1
    script -qec "node $BIN workspace allowlist add 127.0.0.1:$UP --yes" /dev/null </dev/null >/dev/null 2>&1
    local port=$((40000 + $1 * 1000 + RANDOM % 1000))
    node $BIN proxy start --port $port >$D/proxy$1.log 2>&1 & echo $! >> $D/pids
    for _ in $(seq 100); do curl -s http://127.0.0.1:$port/health >/dev/null && break; sleep 0.1; done
    local token
    token=$(python3 -c "import json,os;d=json.load(open(os.environ['AGENTSECRETS_HOME']+'/proxy.json'));print(next((v for k,v in d.items() if 'token' in k.lower()),''))")
    echo "$port $token" > $D/ours$1
  )
}
# wrk against key holder $1 with $2 threads, $3 connections for $4; prints wrk's output.
hit() {
  local port token
  read -r port token < $D/ours$1
  wrk -t$2 -c$3 -d$4 --latency -H "X-AS-Target-URL: http://127.0.0.1:$UP/" -H "X-AS-Inject-Bearer: STRIPE_KEY" \
    -H "X-AS-Session-Token: $token" "http://127.0.0.1:$port/proxy"
}
summary() { awk '/Requests\/sec/ {s += $2} $1 == "50%" {p = p " " $2} /Non-2xx/ {e = e " " $0} END {printf "req/s=%.0f p50=%s%s", s, p, e}'; }

keyholder 1
keyholder 2
hit 1 1 8 2s >/dev/null
hit 2 1 8 2s >/dev/null
for round in $(seq "$ROUNDS"); do
  for workers in 1 2; do
    PORT=0 WORKERS=$workers UNDICI=$UNDICI UPSTREAM=http://127.0.0.1:$UP node $D/floor.cjs > $D/floor.port & fp=$!
    for _ in $(seq 50); do [ -s $D/floor.port ] && break; sleep 0.1; done
    fport=$(head -1 $D/floor.port)
    wrk -t1 -c8 -d2s "http://127.0.0.1:$fport/" >/dev/null
    echo "round $round floor-$workers $(wrk -t2 -c64 -d$DURATION --latency "http://127.0.0.1:$fport/" | summary) (load $(cut -d' ' -f1 /proc/loadavg))"
    kill $fp; wait $fp 2>/dev/null; : > $D/floor.port
  done
  echo "round $round ours-1 $(hit 1 2 64 $DURATION | summary) (load $(cut -d' ' -f1 /proc/loadavg))"
  hit 1 1 32 $DURATION > $D/a.txt & wp=$!
  hit 2 1 32 $DURATION > $D/b.txt
  wait $wp
  echo "round $round ours-2 $(cat $D/a.txt $D/b.txt | summary) (load $(cut -d' ' -f1 /proc/loadavg))"
done

#!/bin/bash
# Proxy throughput and latency beside nginx, in one run (issue 17): a copy of the shared
# ../shared/bench/proxy-vs-nginx.sh with two fixes. Its secret ('sk_bench_value', 14 bytes) is
# shorter than the 16 bytes a value needs to be injected, so every proxied call there is
# refused with 400 invalid_secret_value and wrk measures refusals; here the secret is long
# enough, and a run with non-2xx answers says so and fails. It also prints the load average,
# and measures the floor in the same run: a bare undici pass-through (forwarding only).
# Usage: bash bench/proxy-vs-nginx.sh [BIN]   (BIN: the built CLI, e.g. dist/src/cli/main.js)
# Needs: wrk, nginx. Prints one line per target and the ratios.
set -u
BIN=${1:-}
[ -n "$BIN" ] && BIN=$(realpath "$BIN")
for t in wrk nginx; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done
D=$(mktemp -d); trap 'kill $(cat $D/pids 2>/dev/null) 2>/dev/null; nginx -c $D/nginx.conf -s stop 2>/dev/null; sleep 0.3; rm -rf $D' EXIT
cat > $D/up.mjs <<'JS'
import http from 'node:http';
const body = JSON.stringify({ object: 'balance', available: [{ amount: 420000, currency: 'usd' }] });
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); }); });
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => { process.stdout.write(String(s.address().port) + '\n'); });
JS
node $D/up.mjs > $D/up.port & echo $! >> $D/pids
for _ in $(seq 50); do [ -s $D/up.port ] && break; sleep 0.1; done
UP=$(head -1 $D/up.port)
NP=$((30000 + RANDOM % 10000))
cat > $D/nginx.conf <<CONF
worker_processes 1; pid $D/nginx.pid; error_log $D/err.log; daemon on;
events { worker_connections 4096; }
http { access_log off; upstream u { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NP; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
nginx -c $D/nginx.conf
sleep 0.3
FAILED=0
run() { # NAME URL [headers...]
  local name=$1 url=$2; shift 2
  wrk -t2 -c64 -d10s --latency "$@" "$url" > $D/$name.txt 2>&1
  local rps p50; rps=$(awk '/Requests\/sec/ {print $2}' $D/$name.txt); p50=$(awk '$1=="50%" {print $2}' $D/$name.txt)
  local errors; errors=$(grep -o "Non-2xx.*" $D/$name.txt)
  [ -n "$errors" ] && FAILED=1
  echo "$name req/s=$rps p50=$p50 $errors (load $(cut -d' ' -f1-3 /proc/loadavg))"
  eval "RPS_$name=$rps"
}
wrk -t1 -c8 -d2s "http://127.0.0.1:$UP/" >/dev/null 2>&1
run direct "http://127.0.0.1:$UP/"
run nginx "http://127.0.0.1:$NP/"
if [ -n "$BIN" ]; then
  # The floor, in the same run: a bare undici pass-through that only forwards (no checks,
  # injection, redaction or audit), as in proxy-cpu.mjs, with the build's own undici.
  UNDICI=$(realpath "$(dirname "$BIN")/../../../node_modules/undici")
  cat > $D/floor.cjs <<'JS'
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
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\n'));
JS
  UNDICI=$UNDICI UPSTREAM=http://127.0.0.1:$UP node $D/floor.cjs > $D/floor.port & FLOOR_PID=$!; echo $FLOOR_PID >> $D/pids
  for _ in $(seq 50); do [ -s $D/floor.port ] && break; sleep 0.1; done
  FP=$(head -1 $D/floor.port)
  wrk -t1 -c8 -d2s "http://127.0.0.1:$FP/" >/dev/null 2>&1
  run floor "http://127.0.0.1:$FP/"
  kill $FLOOR_PID
  export HOME=$D/home AGENTSECRETS_HOME=$D/home/.as AGENTSECRETS_PASSPHRASE=bench-passphrase AGENTSECRETS_ALLOW_PRIVATE=127.0.0.1/32
  mkdir -p $HOME && cd $HOME
  node $BIN init --backend passphrase >/dev/null 2>&1
  printf 'sk_bench_value_0123456789abcdef' | node $BIN secrets set STRIPE_KEY >/dev/null 2>&1
  script -qec "node $BIN workspace allowlist add 127.0.0.1:$UP --yes" /dev/null </dev/null >/dev/null 2>&1
  PP=$((40000 + RANDOM % 10000))
  node $BIN proxy start --port $PP >$D/proxy.log 2>&1 & echo $! >> $D/pids
  for _ in $(seq 100); do curl -s http://127.0.0.1:$PP/health >/dev/null && break; sleep 0.1; done
  TOKEN=$(python3 -c "import json,os;d=json.load(open(os.environ['AGENTSECRETS_HOME']+'/proxy.json'));print(next((v for k,v in d.items() if 'token' in k.lower()),''))")
  wrk -t1 -c8 -d2s -H "X-AS-Target-URL: http://127.0.0.1:$UP/" -H "X-AS-Inject-Bearer: STRIPE_KEY" -H "X-AS-Session-Token: $TOKEN" "http://127.0.0.1:$PP/proxy" >/dev/null 2>&1
  run agentsecrets "http://127.0.0.1:$PP/proxy" -H "X-AS-Target-URL: http://127.0.0.1:$UP/" -H "X-AS-Inject-Bearer: STRIPE_KEY" -H "X-AS-Session-Token: $TOKEN"
  python3 -c "print('ratio agentsecrets/direct=%.2f agentsecrets/nginx=%.2f floor/nginx=%.2f agentsecrets/floor=%.2f' % ($RPS_agentsecrets/$RPS_direct, $RPS_agentsecrets/$RPS_nginx, $RPS_floor/$RPS_nginx, $RPS_agentsecrets/$RPS_floor))"
  node $BIN proxy stop >/dev/null 2>&1
fi
python3 -c "print('ratio nginx/direct=%.2f' % ($RPS_nginx/$RPS_direct))"
exit $FAILED

#!/usr/bin/env sh
# Calling the agentsecrets proxy from any language: it is plain HTTP on 127.0.0.1.
# Needs a running proxy (`agentsecrets proxy start`) and jq.
set -eu
STATE="${AGENTSECRETS_HOME:-$HOME/.agentsecrets}/proxy.json"
PORT=$(jq -r .port "$STATE")
curl -sS "http://127.0.0.1:$PORT/proxy" \
  -H "X-AS-Session-Token: $(jq -r .session_token "$STATE")" \
  -H "X-AS-Target-URL: https://api.github.com/user" \
  -H "X-AS-Inject-Bearer: GITHUB_TOKEN" \
  -H "X-AS-Agent-ID: curl-example" \
  -H "Accept: application/vnd.github+json"

#!/usr/bin/env sh
# Calling the agentsecrets proxy from any language: it is plain HTTP on 127.0.0.1.
# Needs a running proxy (`agentsecrets proxy start`) and jq. Exits 1 when the call is refused
# or the API answers with an error, with a one-line hint on stderr.
set -eu
STATE="${AGENTSECRETS_HOME:-$HOME/.agentsecrets}/proxy.json"
TARGET_URL="${TARGET_URL:-https://api.github.com/user}"
if [ ! -f "$STATE" ]; then
  echo "no agentsecrets proxy is running: start one with \`agentsecrets proxy start\`" >&2
  exit 1
fi
PORT=$(jq -r .port "$STATE")
HEADERS=$(mktemp)
trap 'rm -f "$HEADERS"' EXIT
if ! BODY=$(curl -sS -D "$HEADERS" "http://127.0.0.1:$PORT/proxy" \
  -H "X-AS-Session-Token: $(jq -r .session_token "$STATE")" \
  -H "X-AS-Target-URL: $TARGET_URL" \
  -H "X-AS-Inject-Bearer: GITHUB_TOKEN" \
  -H "X-AS-Agent-ID: curl-example" \
  -H "Accept: application/vnd.github+json"); then
  echo "cannot reach the agentsecrets proxy on port $PORT: is \`agentsecrets proxy start\` still running?" >&2
  exit 1
fi
STATUS=$(sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' "$HEADERS")
if grep -qi '^x-as-error:' "$HEADERS"; then
  # A refusal by agentsecrets itself: the message says what a human must do.
  echo "agentsecrets refused the call: $(printf '%s' "$BODY" | jq -r .message)" >&2
  exit 1
fi
printf '%s\n' "$BODY"
if [ "$STATUS" -ge 400 ]; then
  echo "the API answered HTTP $STATUS" >&2
  exit 1
fi

"""Calling the agentsecrets proxy from Python with `requests` (no SDK needed).

Needs a running proxy (`agentsecrets proxy start`). The session token and port are read from
proxy.json in the state folder; the secret is named, never held.
"""
import json
import os
import pathlib

import requests

state_file = pathlib.Path(os.environ.get("AGENTSECRETS_HOME", pathlib.Path.home() / ".agentsecrets")) / "proxy.json"
if not state_file.exists():
    raise SystemExit("no agentsecrets proxy is running: start one with `agentsecrets proxy start`")
state = json.loads(state_file.read_text())
try:
    response = requests.get(
        f"http://127.0.0.1:{state['port']}/proxy",
        headers={
            "X-AS-Session-Token": state["session_token"],
            "X-AS-Target-URL": os.environ.get("TARGET_URL", "https://api.openai.com/v1/models"),
            "X-AS-Inject-Bearer": "OPENAI_API_KEY",
            "X-AS-Agent-ID": "python-example",
            # Optional: an issued token instead of a declared name.
            **({"X-AS-Agent-Token": os.environ["AGENTSECRETS_AGENT_TOKEN"]} if "AGENTSECRETS_AGENT_TOKEN" in os.environ else {}),
        },
        timeout=60,
    )
except requests.ConnectionError:
    raise SystemExit(f"cannot reach the agentsecrets proxy on port {state['port']}: is `agentsecrets proxy start` still running?")
if "X-AS-Error" in response.headers:
    # A refusal by agentsecrets itself: the body says what a human must do.
    raise SystemExit(f"agentsecrets refused the call: {response.json()['message']}")
print(response.status_code, response.headers.get("X-AS-Request-Id"), response.text)
if response.status_code >= 400:
    raise SystemExit(f"the API answered HTTP {response.status_code}")

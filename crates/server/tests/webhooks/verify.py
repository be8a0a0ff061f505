"""Verifies PlanPush webhook deliveries with PyPI's `standardwebhooks` (an implementation
independent of the server's). Reads {"secret": "whsec_...", "deliveries": [{"headers": {...},
"body": "..."}]} on stdin; prints one JSON object per delivery: {"ok": true, "type": ...} or
{"ok": false, "error": ...}."""

import json
import sys

from standardwebhooks.webhooks import Webhook

request = json.load(sys.stdin)
hook = Webhook(request["secret"])
out = []
for d in request["deliveries"]:
    try:
        payload = hook.verify(d["body"], d["headers"])
        out.append({"ok": True, "type": payload.get("type"), "id": payload.get("id")})
    except Exception as e:  # the verification error, or a malformed header
        out.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
print(json.dumps(out))

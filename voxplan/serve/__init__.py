"""`voxplan serve STACK`: the runtime half of an OpenAI route.

A webhook receiver (`POST /openai/webhook`, `GET /healthz`) on the standard library's threaded HTTP
server, as the sandbox's. Each `realtime.call.incoming` is verified (Standard Webhooks, 300 s window, by
the `openai` SDK), deduplicated by `webhook-id`, acknowledged at once, and then, off the request thread,
accepted with the agent the stack routes the dialled number to, or rejected with the declared SIP status.
An agent with tools is followed on its sideband WebSocket: its transfer tool becomes a SIP REFER, its
end-call tool a hang-up. One JSON log line per call; no secret is ever logged.

    config.py    the stack, read into what the receiver needs (routes, agents, headers, secrets)
    receiver.py  verify, dedupe, decide, call control, log
    http.py      the HTTP server around the receiver
    service.py   one running serve: all of the above, and the reload SIGHUP asks for
"""

from voxplan.serve.config import Config, load_config
from voxplan.serve.http import make_server
from voxplan.serve.receiver import Receiver
from voxplan.serve.service import Service

__all__ = ["Config", "Receiver", "Service", "load_config", "make_server"]

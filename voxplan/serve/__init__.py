"""`voxplan serve STACK`: the runtime half of an OpenAI route, run as a service.

A webhook receiver on uvicorn + Starlette that answers each verified `realtime.call.incoming` with the
agents `apply` PUBLISHED to the state backend (never a stack file on its own disk), picking up a new
publication within seconds, with no signal. Replicas on one PostgreSQL backend share the dedupe of
deliveries, the record of each call and its sideband lease; a delivery is answered 2xx only once its
call is decided. One JSON log line per event; Prometheus metrics; /healthz and /readyz.

    config.py        the stack's settings serve needs (backend, key, signing secrets), not its agents
    answers.py       the published agents and routing as one snapshot, and the decision for a call
    coordination.py  replicas: dedupe, call records, sideband leases (PostgreSQL; one process on local)
    receiver.py      one delivery: verify, claim, decide, record; sidebands: tools, re-attach, hand back
    app.py           the HTTP face (Starlette)
    server.py        uvicorn: timeouts, connection cap, graceful drain
    logs.py          the one logging setup: JSON lines with a timestamp, no tracebacks
    metrics.py       Prometheus metrics
    service.py       one running serve: all of the above
"""

from voxplan.serve.config import Config, load_config
from voxplan.serve.receiver import Receiver
from voxplan.serve.service import Service

__all__ = ["Config", "Receiver", "Service", "load_config"]

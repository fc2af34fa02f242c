# One image for the whole tool: the CLI (plan, apply, drift in CI) and `voxplan serve` (the OpenAI call
# answerer, run as replicas behind a load balancer). The README's "Running serve in production" uses it.
#   docker build -t voxplan .
#   docker run --rm -v "$PWD:/work" voxplan plan stacks/wavix-openai.yaml
#   docker run -p 8080:8080 -v "$PWD:/work:ro" -e OPENAI_API_KEY -e OPENAI_WEBHOOK_SECRET -e VOXPLAN_BACKEND \
#       voxplan serve stacks/wavix-openai.yaml --host 0.0.0.0 --port 8080
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY voxplan ./voxplan
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /work voxplan \
 && mkdir -p /work && chown voxplan /work

USER voxplan
WORKDIR /work
EXPOSE 8080
# serve drains on SIGTERM (finishes the calls it is deciding, hands its sidebands to the other replicas):
# give it the grace period the README names before a SIGKILL
STOPSIGNAL SIGTERM
ENTRYPOINT ["voxplan"]
CMD ["--help"]

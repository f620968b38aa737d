"""What an operator sees of a running gateway: Prometheus metrics, request ids, logs.

- `metrics.GatewayMetrics`: one Prometheus registry per gateway (`GET /metrics` renders it),
  with every series the adapters, the backend client, the engine and the store thread record.
- `logs`: the request id of the request being served (a context variable, so every log line of
  that request carries it, on the store thread too), the access log line, and the two log
  formats (`text` for people, `json` for machines).

This package imports nothing else from `reference`: every layer may record into it.
"""

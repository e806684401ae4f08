"""Observability plugins: Prometheus metrics with health probes, OpenTelemetry traces, event fields in JSON logs.

Each is an ordinary plugin (:mod:`framework.plugins.hookspecs`) built on the hooks every plugin gets, so
the hooks are shown to be enough for an operator's needs:

- :class:`framework.observability.metrics.MetricsPlugin` (extra ``qqbot-framework[metrics]``): ``/metrics``,
  ``/healthz`` and ``/readyz`` on one port (``qqbot run --metrics-port 9108``; ``qqbot gateway`` and
  ``qqbot worker`` take the same option and add the event bus's series).
- :class:`framework.observability.tracing.TracingPlugin` (extra ``qqbot-framework[otel]``): a span per
  event, per handler run and per REST call, and, across an event bus, a publish span on the gateway whose
  trace the worker continues.
- :class:`framework.observability.logfields.EventLogFields`: JSON log lines carry the event's id (and, with
  tracing, the trace and span ids).

The submodules import their optional dependency at import time; this package imports nothing.
See docs/observability.md.
"""

__all__: list[str] = []

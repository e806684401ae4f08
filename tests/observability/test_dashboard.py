"""docs/observability-dashboard.json queries only series the metrics plugin exposes, and shows each of its counters."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from framework.observability.metrics import MetricsPlugin

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "observability-dashboard.json"
_SERIES = re.compile(r"\b(qqbot_\w+)")


def _exposed() -> set[str]:
    """The sample names a fresh plugin's registry can produce (a family's name with each suffix)."""
    from prometheus_client import generate_latest

    text = generate_latest(MetricsPlugin(None).registry).decode()
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in ("", "_total", "_bucket", "_count", "_sum")
    }


def _counters() -> set[str]:
    """The names (without ``_total``) of the counter families a fresh plugin's registry exposes."""
    from prometheus_client import generate_latest

    text = generate_latest(MetricsPlugin(None).registry).decode()
    return {family.name for family in text_string_to_metric_families(text) if family.type == "counter"}


def test_every_query_names_an_exposed_series() -> None:
    exposed = _exposed()
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 13
    used = {name for expr in exprs for name in _SERIES.findall(expr)}
    unknown = sorted(used - exposed)
    assert not unknown, f"the dashboard queries series the plugin does not expose: {unknown}"
    # every counter of the plugin appears on the dashboard (the process collector's aside)
    missing = {name for name in _counters() if not name.startswith("qqbot_process_") and f"{name}_total" not in used}
    assert not missing, f"series without a panel: {sorted(missing)}"


def test_the_check_sees_an_unknown_series() -> None:
    assert _SERIES.findall('rate(qqbot_made_up_total{job="x"}[1m])') == ["qqbot_made_up_total"]
    assert "qqbot_made_up_total" not in _exposed()


def test_the_check_sees_every_counter() -> None:
    counters = _counters()
    assert {"qqbot_events_received", "qqbot_bus_published", "qqbot_bus_consumed"} <= counters
    assert "qqbot_handler_duration_seconds" not in counters and "qqbot_ready" not in counters

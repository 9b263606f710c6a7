"""The deploy/ files agree with the code: metric names, ports, settings, stop deadlines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from logship.observe.health import HealthState

# The `fetch` fixture (conftest.py): start a real HttpServer, GET the paths, stop it.
Fetch = Callable[[HealthState, Sequence[str]], dict[str, Any]]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

# PromQL keywords that look like metric names once labels, ranges and strings are removed.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
IGNORED = {"up"}  # added by Prometheus itself


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings (label values)
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    expr = re.sub(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", "", expr)  # numbers such as 10e6
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("("):
            continue  # a function
        if match.group() not in KEYWORDS:
            names.add(match.group())
    return names - IGNORED


def rule_exprs() -> list[str]:
    exprs = []
    for path in sorted((DEPLOY / "prometheus").glob("*.yml")):
        if path.name.endswith(".test.yml"):
            continue
        for group in yaml.safe_load(path.read_text())["groups"]:
            exprs += [rule["expr"] for rule in group["rules"]]
    return exprs


def dashboard_exprs() -> list[str]:
    exprs = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((DEPLOY / "grafana").glob("*.json")):
        walk(json.loads(path.read_text()))
    return exprs


def exposed(metrics_text: str) -> dict[str, str]:
    """name -> type, from the ``# TYPE`` lines (present even before a labelled metric has data)."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", metrics_text, re.M))
    for name, kind in list(types.items()):
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                types[name + suffix] = kind
    return types


def test_extractor() -> None:
    assert metric_names(
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{instance=~"$x"}[$__rate_interval])))'
        " / on (instance) b_total > 10e6 and c"
    ) == {"a_bucket", "b_total", "c"}
    assert metric_names('deriv(sum by (instance) (d)[15m:1m]) > 0 and up{job="logship"} == 0') == {"d"}


def test_every_referenced_metric_is_exposed(fetch: Fetch) -> None:
    state = HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)
    text = fetch(state, ["/metrics"])["/metrics"].body.decode()
    available = exposed(text)

    rules, panels = rule_exprs(), dashboard_exprs()
    assert len(rules) >= 6 and len(panels) >= 10
    referenced = {name: expr for expr in rules + panels for name in metric_names(expr)}
    assert {"logship_records_total", "logship_bulk_request_duration_seconds_bucket"} <= set(referenced)

    missing = {name: expr for name, expr in referenced.items() if name not in available}
    assert not missing, f"queried but not exposed by /metrics: {missing}"


def test_configmap_toml_loads_with_the_settings_model(tmp_path: Path) -> None:
    from logship.settings import load_settings

    (configmap,) = yaml.safe_load_all((DEPLOY / "kubernetes" / "configmap.yaml").read_text())
    path = tmp_path / "logship.toml"
    path.write_text(configmap["data"]["logship.toml"])
    settings = load_settings(path)
    # The kubelet's probes and Prometheus reach the pod from outside its network namespace.
    assert settings.http.listen == "0.0.0.0:9611" and settings.http.port == 9611
    assert str(settings.tail.positions_dir) == "/var/lib/logship"


def test_probes_and_scrape_annotations_use_the_configured_port() -> None:
    (daemonset,) = yaml.safe_load_all((DEPLOY / "kubernetes" / "daemonset.yaml").read_text())
    pod = daemonset["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": 9611}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/detailed", "port": 9611}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9611"
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"


def test_stop_deadlines_leave_room_for_the_drain() -> None:
    from logship.settings import PipelineSettings

    drain = PipelineSettings().drain_timeout_seconds
    unit = (DEPLOY / "systemd" / "logship.service").read_text()
    (timeout,) = re.findall(r"^TimeoutStopSec=(\d+)$", unit, re.M)
    (daemonset,) = yaml.safe_load_all((DEPLOY / "kubernetes" / "daemonset.yaml").read_text())
    grace = daemonset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert int(timeout) >= drain + 10 and grace >= drain + 10

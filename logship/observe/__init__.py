"""Observability for logship: Prometheus metrics, health state, the HTTP endpoints, JSON logs."""

"""Monitoring: Prometheus metrics, alert rules and the alert manager, notifiers, Grafana.

Sits on top (DESIGN.md): it may import the engines, ``stats/`` and ``store/``; no engine
imports it. docs/internals-monitor.md is the contract between its parts.
"""

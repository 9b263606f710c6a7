"""Moving to logship from another shipper: configuration conversion and position takeover."""

from __future__ import annotations

"""Reporting: one section module per runner (latency, throughput, http), the document that holds
them, charts, compare, the console, and units."""

"""Integrations with other programs (RELION External job, ...)."""

"""Sinks: each writes one kind of output from the run's records, atomically."""

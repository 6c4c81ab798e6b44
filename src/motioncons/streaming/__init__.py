"""Streaming: inputs that grow (sources), the persistent state, and the watch engine."""

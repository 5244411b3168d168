"""What operators see: the HTTP API, Prometheus metrics, readiness, and the state dump."""

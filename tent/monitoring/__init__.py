"""What an operator watches: readiness, Prometheus metrics and the event loop's lag."""

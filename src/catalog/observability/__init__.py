"""observability: Prometheus metrics, OpenTelemetry tracing (W3C trace context) and error
tracking. Imports only core/ and settings; alert rules live in catalog.alerting."""

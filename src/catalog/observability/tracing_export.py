"""The OpenTelemetry SDK side of tracing, imported only when tracing is on.

The process keeps one tracer provider (OpenTelemetry lets a process set its global provider
once); behind it sits an `ExportSwitch`, a span processor that forwards to the export
pipeline of the current `Tracing` handle, or drops spans when there is none. So an app's
shutdown can flush and end its pipeline without leaving a dead processor in the provider,
and a later app in the same process (tests) starts a fresh one.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from catalog import __version__
from catalog.settings import Settings


class ExportSwitch(SpanProcessor):
    """Forwards every span event to `target`, the current export processor, if any."""

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        target = self.target
        if target is not None:
            target.on_start(span, parent_context)

    def _on_ending(self, span: Span) -> None:
        target = self.target
        if target is not None:
            target._on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        target = self.target
        if target is not None:
            target.on_end(span)

    def shutdown(self) -> None:
        target, self.target = self.target, None
        if target is not None:
            target.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        target = self.target
        return target.force_flush(timeout_millis) if target is not None else True


def new_provider(settings: Settings) -> tuple[TracerProvider, ExportSwitch]:
    """A tracer provider describing this service (OTEL_RESOURCE_ATTRIBUTES merged in)."""
    resource = Resource.create(
        {
            "service.name": settings.otel_service_name,
            "service.version": __version__,
            "deployment.environment.name": settings.environment,
        }
    )
    provider = TracerProvider(resource=resource)
    switch = ExportSwitch()
    provider.add_span_processor(switch)
    return provider, switch

//! One trace per event across the bus: the W3C trace context travels in the CloudEvent's
//! distributed-tracing extension ([`argo_events_api::cloudevent::TraceContext`]), written by
//! the bus adapters' `publish` span and read back by whoever consumes the event (the Sensor).
//! The EventSource adapters, the bus adapters and the Sensor runtime all use these functions,
//! so the span names, attributes and the encoding are the same everywhere.
//!
//! Spans are `tracing` spans; they become OpenTelemetry spans only when the binary installs
//! the `tracing-opentelemetry` layer (it does when `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
//! Without that layer [`span_context`] finds nothing and an event keeps the trace context it
//! arrived with (an incoming `traceparent` header is passed on unchanged), so a traced process
//! further down still continues the caller's trace.
//!
//! Attribute names follow the OpenTelemetry messaging conventions: `messaging.system` (`nats`
//! for JetStream, `memory` for the in-process bus), `messaging.destination.name` (the subject),
//! `messaging.operation.type` (`publish`, `receive`, `process`), `messaging.message.id` (the
//! CloudEvent id); span names are `<operation> <subject>`.

use std::str::FromStr as _;

use argo_events_api::cloudevent::{Event, TraceContext};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The W3C header (and CloudEvents extension attribute) names.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The W3C `tracestate` header name.
pub const TRACESTATE_HEADER: &str = "tracestate";

/// Parses a W3C trace context (version `00`, and later versions read as `00` is, as the W3C
/// spec asks); `None` when it is absent or malformed or names the all-zero trace or span id.
pub fn parse(trace: &TraceContext) -> Option<SpanContext> {
    let header = trace.traceparent.as_deref()?.trim();
    let mut parts = header.split('-');
    let (version, trace_id, span_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let more = parts.next();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2) || version == "ff" || (version == "00" && more.is_some()) {
        return None;
    }
    if !hex(trace_id, 32) || !hex(span_id, 16) || !hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let state = trace
        .tracestate
        .as_deref()
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    let context = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags & TraceFlags::SAMPLED.to_u8()),
        true,
        state,
    );
    context.is_valid().then_some(context)
}

/// The W3C encoding of a span context: `00-<trace id>-<span id>-<flags>` and its trace state.
pub fn format(context: &SpanContext) -> TraceContext {
    let state = context.trace_state().header();
    TraceContext {
        traceparent: Some(format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        )),
        tracestate: Some(state).filter(|s| !s.is_empty()),
    }
}

/// The OpenTelemetry span context of a `tracing` span, when the OpenTelemetry layer is
/// installed and the span is recorded.
pub fn span_context(span: &tracing::Span) -> Option<SpanContext> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// Makes `span` a child of the trace context `trace` carries (a no-op when it carries none,
/// when it is malformed, or when no OpenTelemetry layer is installed). Call it before the span
/// is first entered.
pub fn continue_trace(span: &tracing::Span, trace: &TraceContext) {
    if let Some(remote) = parse(trace) {
        let parent = opentelemetry::Context::new().with_remote_span_context(remote);
        // Fails only without the layer (nothing to continue then) or once the span started.
        let _ = span.set_parent(parent);
    }
}

/// The trace context to write into an event published under `span`: the span's own when it is
/// traced, else what the event already carries (passed on unchanged).
pub fn outgoing(span: &tracing::Span, event: &Event) -> TraceContext {
    match span_context(span) {
        Some(context) => format(&context),
        None => event.trace.clone(),
    }
}

/// Writes a trace context into a CloudEvent in structured mode (replacing what it carried).
pub fn stamp(cloudevent: &mut serde_json::Value, trace: &TraceContext) {
    use argo_events_api::cloudevent::{TRACEPARENT, TRACESTATE};
    if let serde_json::Value::Object(obj) = cloudevent {
        obj.remove(TRACEPARENT);
        obj.remove(TRACESTATE);
        if let Some(tp) = &trace.traceparent {
            obj.insert(TRACEPARENT.into(), serde_json::json!(tp));
            if let Some(ts) = &trace.tracestate {
                obj.insert(TRACESTATE.into(), serde_json::json!(ts));
            }
        }
    }
}

/// The producer span of one publish: `publish <subject>`, kind producer, with the messaging
/// attributes.
pub fn publish_span(system: &'static str, subject: &str, event: &Event) -> tracing::Span {
    tracing::info_span!(
        "publish",
        otel.name = %format_args!("publish {subject}"),
        otel.kind = "producer",
        messaging.system = system,
        messaging.destination.name = %subject,
        messaging.operation.type = "publish",
        messaging.message.id = %event.id,
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Records a failed operation on `span` (status `ERROR`, the error text as `error.type`).
pub fn record_error(span: &tracing::Span, error: &dyn std::fmt::Display) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", tracing::field::display(error));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tc(traceparent: &str, tracestate: Option<&str>) -> TraceContext {
        TraceContext {
            traceparent: Some(traceparent.into()),
            tracestate: tracestate.map(str::to_owned),
        }
    }

    #[test]
    fn parses_and_formats_w3c_trace_context() {
        let given = tc(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        );
        let context = parse(&given).expect("valid");
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
        assert!(context.is_sampled() && context.is_remote());
        assert_eq!(format(&context), given);
        // Not sampled, no state.
        let unsampled = tc(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            None,
        );
        assert_eq!(format(&parse(&unsampled).expect("valid")), unsampled);
        // A later version with more fields is read as version 00.
        let later = tc(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            None,
        );
        assert!(parse(&later).is_some());
    }

    #[test]
    fn refuses_malformed_trace_context() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        ] {
            assert!(parse(&tc(bad, None)).is_none(), "{bad:?}");
        }
        assert!(parse(&TraceContext::default()).is_none());
    }

    #[test]
    fn without_an_opentelemetry_layer_the_event_keeps_its_context() {
        let event = Event {
            id: "1".into(),
            source: "es".into(),
            specversion: "1.0".into(),
            type_: "webhook".into(),
            datacontenttype: "application/json".into(),
            subject: "push".into(),
            time: None,
            data: Vec::new(),
            trace: tc(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                None,
            ),
        };
        let span = publish_span("nats", "default.es.push", &event);
        assert_eq!(span_context(&span), None);
        assert_eq!(outgoing(&span, &event), event.trace);
    }
}

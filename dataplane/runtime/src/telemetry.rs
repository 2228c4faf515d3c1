//! Logs and traces for the pod binary: the `tracing-subscriber` log layer (plain or JSON),
//! and, only when the standard OpenTelemetry variables ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT`
//! or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), the `tracing-opentelemetry` layer exporting spans
//! over OTLP/HTTP (protobuf) with a batch processor. `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*` and
//! `OTEL_TRACES_SAMPLER*` are read by the OpenTelemetry SDK as everywhere else. Without an
//! endpoint nothing is installed beyond the log layer.
//!
//! While a traced span is current, every log line carries its ids: `trace_id` and `span_id`
//! fields first in a JSON line, ` trace_id=… span_id=…` at the end of a plain one.
//!
//! The span names and attributes are documented where the spans start:
//! [`argo_events_bus::tracecontext`] (publish), the EventSource adapters (receive) and
//! [`crate::sensor`] (process, evaluate, trigger).

use std::fmt;

use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::WithHttpConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The variables that turn the exporter on.
pub const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// Whether the environment asks for an OTLP exporter (an endpoint is set and the SDK is not
/// disabled with `OTEL_SDK_DISABLED=true`).
pub fn exporter_wanted(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let disabled = lookup("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    !disabled
        && ENDPOINT_VARS
            .iter()
            .any(|v| lookup(v).is_some_and(|s| !s.trim().is_empty()))
}

/// What stays alive while the process runs: the tracer provider, flushed and shut down when
/// this is dropped.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: flushing traces: {e}");
        }
    }
}

/// The OTLP/HTTP client: reqwest (already in the binary), each request run on the tokio
/// runtime, so the SDK's batch thread can wait for it from outside the runtime.
#[derive(Debug, Clone)]
struct TokioReqwest {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for TokioReqwest {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let call = async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut builder = Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                builder = builder.header(name.as_str(), value.as_bytes());
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(builder.body(body)?)
        };
        self.runtime.spawn(call).await?
    }
}

/// A tracer provider exporting over OTLP/HTTP: `default_service` names the service unless
/// `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) does.
pub fn otlp_provider(
    runtime: tokio::runtime::Handle,
    default_service: &str,
) -> Result<SdkTracerProvider, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("OTLP HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(TokioReqwest { client, runtime })
        .build()
        .map_err(|e| format!("OTLP span exporter: {e}"))?;
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|s| !s.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|s| s.contains("service.name="));
    let mut resource = Resource::builder();
    if !named {
        resource = resource.with_service_name(default_service.to_owned());
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// Installs the global subscriber: logs in `json` or plain text on stderr filtered by
/// `LOG_LEVEL` (default `info`), and the OpenTelemetry layer when `provider` is given.
pub fn install(json: bool, provider: Option<SdkTracerProvider>) -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("argo-events"))
            .with_location(false)
            .with_threads(false)
    });
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = if json {
        registry
            .with(logs.json().event_format(WithTraceIds {
                inner: tracing_subscriber::fmt::format().json(),
                json: true,
            }))
            .try_init()
    } else {
        registry
            .with(logs.event_format(WithTraceIds {
                inner: tracing_subscriber::fmt::format(),
                json: false,
            }))
            .try_init()
    };
    if let Err(e) = result {
        eprintln!("warning: logging was already set up: {e}");
    }
    Telemetry { provider }
}

/// A log line format that adds the current span's trace and span ids.
struct WithTraceIds<F> {
    inner: F,
    json: bool,
}

/// The trace and span ids of the current span, when it is traced.
pub fn current_ids() -> Option<(String, String)> {
    let span = tracing::Span::current();
    argo_events_bus::tracecontext::span_context(&span)
        .map(|c| (c.trace_id().to_string(), c.span_id().to_string()))
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let ids = match ctx.lookup_current() {
            Some(_) => current_ids(),
            None => None,
        };
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let body = line.strip_suffix('\n').unwrap_or(&line);
        if self.json {
            match body.strip_prefix('{') {
                Some(rest) => writeln!(
                    writer,
                    "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
                ),
                None => writeln!(writer, "{body}"),
            }
        } else {
            writeln!(writer, "{body} trace_id={trace_id} span_id={span_id}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporter_is_wanted_only_with_an_endpoint() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(!exporter_wanted(env(&[])));
        assert!(!exporter_wanted(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            " "
        )])));
        assert!(exporter_wanted(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:4318"
        )])));
        assert!(exporter_wanted(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318/v1/traces"
        )])));
        assert!(!exporter_wanted(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ])));
    }
}

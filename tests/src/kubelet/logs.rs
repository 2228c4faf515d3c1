//! `GET /containerLogs/{namespace}/{pod}/{container}` as a kubelet answers it: the query the
//! API server forwards (LogLocation in pkg/registry/core/pod/strategy.go: `follow`,
//! `previous`, `timestamps`, `sinceSeconds`, `sinceTime`, `tailLines`, `limitBytes`, `stream`;
//! the kubelet also takes the old `tail`), decoded and validated as pkg/kubelet/server does, and
//! the lines written as k8s.io/cri-client/pkg/logs writes them: `tailLines` picks the last lines
//! first, then lines older than the since-time are skipped, `timestamps` prefixes each with its
//! receive time (RFC 3339, nanoseconds, UTC) and a space, and `limitBytes` cuts the output.

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// The stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of a container's output as it was received, with its newline (the last line of a
/// process that exits mid-line has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub time: DateTime<Utc>,
    pub stream: Stream,
    pub bytes: Vec<u8>,
}

/// Which streams a request wants (`stream=All|Stdout|Stderr`; All when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streams {
    All,
    Stdout,
    Stderr,
}

impl Streams {
    fn wants(self, stream: Stream) -> bool {
        match self {
            Streams::All => true,
            Streams::Stdout => stream == Stream::Stdout,
            Streams::Stderr => stream == Stream::Stderr,
        }
    }
}

/// A `containerLogs` request's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    /// Lines received before this are skipped (`sinceSeconds` before now, or `sinceTime`,
    /// whichever is later).
    pub since: Option<DateTime<Utc>>,
    pub tail: Option<usize>,
    pub limit_bytes: Option<u64>,
    pub streams: Streams,
}

/// Why a query is refused: `Decode` is the kubelet's 400 ("Unable to decode query."),
/// `Invalid` its 422 ("Invalid request.").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    Decode(String),
    Invalid(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Decode(m) => write!(f, "unable to decode query: {m}"),
            QueryError::Invalid(m) => write!(f, "invalid request: {m}"),
        }
    }
}

impl LogOptions {
    /// Decodes the query's `(key, value)` pairs (percent-decoded) at time `now`. Unknown keys
    /// are ignored and the first value of a repeated key counts, as Kubernetes' parameter codec
    /// does; a flag is true unless empty, `0` or `false`.
    pub fn from_query(pairs: &[(String, String)], now: DateTime<Utc>) -> Result<Self, QueryError> {
        let first = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let flag = |key: &str| {
            first(key)
                .is_some_and(|v| !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")))
        };
        let int = |key: &str| -> Result<Option<i64>, QueryError> {
            match first(key) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|e| QueryError::Decode(format!("{key}={v}: {e}"))),
            }
        };
        // The kubelet's backwards compatibility: `tail=N`, `tail=all` meaning no limit.
        let tail_lines = match first("tail") {
            Some("all") => None,
            Some(v) if !v.is_empty() => Some(
                v.parse::<i64>()
                    .map_err(|e| QueryError::Decode(format!("tail={v}: {e}")))?,
            ),
            _ => int("tailLines")?,
        };
        let since_seconds = int("sinceSeconds")?;
        let since_time = match first("sinceTime") {
            None | Some("") => None,
            Some(v) => Some(
                DateTime::parse_from_rfc3339(v)
                    .map_err(|e| QueryError::Decode(format!("sinceTime={v}: {e}")))?
                    .with_timezone(&Utc),
            ),
        };
        let limit_bytes = int("limitBytes")?;
        let streams = match first("stream") {
            None | Some("") | Some("All") => Streams::All,
            Some("Stdout") => Streams::Stdout,
            Some("Stderr") => Streams::Stderr,
            Some(other) => {
                return Err(QueryError::Invalid(format!(
                    "stream {other:?}: supported values: \"All\", \"Stdout\", \"Stderr\""
                )));
            }
        };

        // ValidatePodLogOptions.
        if tail_lines.is_some_and(|n| n < 0) {
            return Err(QueryError::Invalid("tailLines must be >= 0".into()));
        }
        if limit_bytes.is_some_and(|n| n < 1) {
            return Err(QueryError::Invalid("limitBytes must be > 0".into()));
        }
        if since_seconds.is_some() && since_time.is_some() {
            return Err(QueryError::Invalid(
                "at most one of sinceTime or sinceSeconds may be specified".into(),
            ));
        }
        if since_seconds.is_some_and(|n| n < 1) {
            return Err(QueryError::Invalid("sinceSeconds must be > 0".into()));
        }
        if streams != Streams::All && tail_lines.is_some() {
            return Err(QueryError::Invalid(
                "tailLines is not supported when stream is not All".into(),
            ));
        }

        // NewLogOptions: the later of the two since-times.
        let mut since = since_seconds.map(|s| now - Duration::seconds(s));
        if let Some(t) = since_time
            && since.is_none_or(|s| t > s)
        {
            since = Some(t);
        }
        Ok(LogOptions {
            follow: flag("follow"),
            previous: flag("previous"),
            timestamps: flag("timestamps"),
            since,
            tail: tail_lines.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            limit_bytes: limit_bytes.map(|n| n.unsigned_abs()),
            streams,
        })
    }
}

/// What [`LogWriter::write`] makes of one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// Not wanted (too old, or another stream).
    Skipped,
    /// These bytes; more may follow.
    Bytes(Vec<u8>),
    /// These bytes, and the byte limit is reached: the response ends here.
    Last(Vec<u8>),
}

/// Writes lines one at a time under a request's options (the state is the bytes left).
#[derive(Clone, Debug)]
pub struct LogWriter {
    since: Option<DateTime<Utc>>,
    timestamps: bool,
    streams: Streams,
    remain: Option<u64>,
}

impl LogWriter {
    pub fn new(opts: &LogOptions) -> Self {
        LogWriter {
            since: opts.since,
            timestamps: opts.timestamps,
            streams: opts.streams,
            remain: opts.limit_bytes,
        }
    }

    /// The bytes of one line, or why not.
    pub fn write(&mut self, line: &LogLine) -> Written {
        if self.since.is_some_and(|since| line.time < since) {
            return Written::Skipped;
        }
        if !self.streams.wants(line.stream) {
            return Written::Skipped;
        }
        let mut out = Vec::with_capacity(line.bytes.len() + 31);
        if self.timestamps {
            out.extend_from_slice(timestamp(line.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&line.bytes);
        match self.remain {
            None => Written::Bytes(out),
            Some(remain) => {
                let keep = usize::try_from(remain).unwrap_or(usize::MAX).min(out.len());
                out.truncate(keep);
                let left = remain - keep as u64;
                self.remain = Some(left);
                if left == 0 {
                    Written::Last(out)
                } else {
                    Written::Bytes(out)
                }
            }
        }
    }
}

/// The index of the first line `tailLines` keeps.
pub fn tail_start(len: usize, tail: Option<usize>) -> usize {
    tail.map_or(0, |n| len.saturating_sub(n))
}

/// Everything a non-following request returns for these lines.
pub fn render(lines: &[LogLine], opts: &LogOptions) -> Vec<u8> {
    let mut writer = LogWriter::new(opts);
    let mut out = Vec::new();
    for line in &lines[tail_start(lines.len(), opts.tail)..] {
        match writer.write(line) {
            Written::Skipped => {}
            Written::Bytes(b) => out.extend_from_slice(&b),
            Written::Last(b) => {
                out.extend_from_slice(&b);
                break;
            }
        }
    }
    out
}

/// A log timestamp as the kubelet writes it (Go's RFC3339NanoFixed, UTC).
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a test time")
            .with_timezone(&Utc)
    }

    fn query(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn opts(q: &[(&str, &str)]) -> LogOptions {
        LogOptions::from_query(&query(q), at("2025-01-01T00:01:00Z")).expect("a valid query")
    }

    fn lines() -> Vec<LogLine> {
        [
            ("2025-01-01T00:00:00Z", Stream::Stdout, "one\n"),
            ("2025-01-01T00:00:10.5Z", Stream::Stderr, "two\n"),
            ("2025-01-01T00:00:30Z", Stream::Stdout, "three\n"),
            ("2025-01-01T00:00:50.000000001Z", Stream::Stderr, "four"),
        ]
        .into_iter()
        .map(|(t, stream, text)| LogLine {
            time: at(t),
            stream,
            bytes: text.as_bytes().to_vec(),
        })
        .collect()
    }

    fn text(q: &[(&str, &str)]) -> String {
        String::from_utf8(render(&lines(), &opts(q))).expect("UTF-8")
    }

    #[test]
    fn everything_by_default_both_streams_in_order() {
        assert_eq!(text(&[]), "one\ntwo\nthree\nfour");
        assert_eq!(opts(&[]).streams, Streams::All);
        assert!(!opts(&[]).follow);
    }

    #[test]
    fn tail_lines_counts_from_the_end() {
        assert_eq!(text(&[("tailLines", "1")]), "four");
        assert_eq!(text(&[("tailLines", "2")]), "three\nfour");
        assert_eq!(text(&[("tailLines", "9")]), "one\ntwo\nthree\nfour");
        assert_eq!(text(&[("tailLines", "0")]), "");
        assert_eq!(text(&[("tail", "1")]), "four");
        assert_eq!(text(&[("tail", "all")]), "one\ntwo\nthree\nfour");
    }

    #[test]
    fn since_seconds_and_since_time_skip_older_lines() {
        // now is 00:01:00; 30 s before is 00:00:30, which is kept (not before since).
        assert_eq!(text(&[("sinceSeconds", "30")]), "three\nfour");
        assert_eq!(
            text(&[("sinceTime", "2025-01-01T00:00:10Z")]),
            "two\nthree\nfour"
        );
        // Tail first, then since: of the last three lines only those after since.
        assert_eq!(
            text(&[("tailLines", "3"), ("sinceSeconds", "30")]),
            "three\nfour"
        );
    }

    #[test]
    fn timestamps_prefix_the_receive_time_with_nanoseconds() {
        assert_eq!(
            text(&[("timestamps", "true"), ("tailLines", "3")]),
            "2025-01-01T00:00:10.500000000Z two\n\
             2025-01-01T00:00:30.000000000Z three\n\
             2025-01-01T00:00:50.000000001Z four"
        );
    }

    #[test]
    fn limit_bytes_cuts_the_output() {
        assert_eq!(text(&[("limitBytes", "6")]), "one\ntw");
        assert_eq!(text(&[("limitBytes", "4")]), "one\n");
        let mut writer = LogWriter::new(&opts(&[("limitBytes", "4")]));
        assert_eq!(writer.write(&lines()[0]), Written::Last(b"one\n".to_vec()));
    }

    #[test]
    fn one_stream_alone() {
        assert_eq!(text(&[("stream", "Stdout")]), "one\nthree\n");
        assert_eq!(text(&[("stream", "Stderr")]), "two\nfour");
        // Lines of the other stream do not count against the limit.
        assert_eq!(text(&[("stream", "Stderr"), ("limitBytes", "5")]), "two\nf");
    }

    #[test]
    fn flags_as_the_parameter_codec_reads_them() {
        for (value, want) in [
            ("true", true),
            ("1", true),
            ("yes", true),
            ("false", false),
            ("False", false),
            ("0", false),
            ("", false),
        ] {
            assert_eq!(opts(&[("follow", value)]).follow, want, "follow={value}");
        }
        let o = opts(&[
            ("previous", "true"),
            ("timestamps", "true"),
            ("follow", "true"),
        ]);
        assert!(o.previous && o.timestamps && o.follow);
        // Unknown keys are ignored; the first of a repeated key counts.
        let o = opts(&[
            ("container", "main"),
            ("tailLines", "2"),
            ("tailLines", "5"),
        ]);
        assert_eq!(o.tail, Some(2));
    }

    #[test]
    fn refused_queries() {
        let now = at("2025-01-01T00:01:00Z");
        let refuse = |q: &[(&str, &str)]| LogOptions::from_query(&query(q), now).err();
        assert!(matches!(
            refuse(&[("tailLines", "x")]),
            Some(QueryError::Decode(_))
        ));
        assert!(matches!(
            refuse(&[("sinceTime", "yesterday")]),
            Some(QueryError::Decode(_))
        ));
        for q in [
            &[("tailLines", "-1")][..],
            &[("limitBytes", "0")],
            &[("sinceSeconds", "0")],
            &[("sinceSeconds", "5"), ("sinceTime", "2025-01-01T00:00:00Z")],
            &[("stream", "Both")],
            &[("stream", "Stdout"), ("tailLines", "1")],
        ] {
            assert!(matches!(refuse(q), Some(QueryError::Invalid(_))), "{q:?}");
        }
    }
}

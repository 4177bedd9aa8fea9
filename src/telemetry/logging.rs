//! Subscriber initialisation: JSON lines by default, human-readable text on
//! a terminal or with `NODE_ENV=development`.

use std::{fmt, io::IsTerminal, str::FromStr};

use serde_json::{Map, Value as Json};
use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    EnvFilter,
    filter::LevelFilter,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::{JsonFields, Writer},
    },
    registry::LookupSpan,
};

/// `LOG_LEVEL` values accepted by the TypeScript connector (pino levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Fatal,
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
    Silent,
}

impl LogLevel {
    pub const ALL: [LogLevel; 7] = [
        LogLevel::Fatal,
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
        LogLevel::Silent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Fatal => "fatal",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
            LogLevel::Silent => "silent",
        }
    }

    /// tracing has no `fatal`: fatal events are logged at `error`.
    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Fatal | LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
            LogLevel::Silent => LevelFilter::OFF,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = LogLevel::ALL.iter().map(|l| l.as_str()).collect();
                format!("`{s}` is not a log level; use one of {}", names.join(", "))
            })
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (the default; what the cluster log pipeline parses).
    Json,
    /// Human-readable text.
    Pretty,
}

impl LogFormat {
    /// JSON unless `NODE_ENV=development` or stderr is a terminal.
    pub fn detect(node_env_development: bool) -> Self {
        if node_env_development || std::io::stderr().is_terminal() {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        }
    }
}

/// Installs the global subscriber. Logs go to stderr, so that the stdout of
/// `check-config` and `plan` stays machine-readable. Calling it twice is
/// harmless (the second call keeps the first subscriber).
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = EnvFilter::builder()
        .with_default_directive(level.filter().into())
        .parse_lossy("");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(PinoJson::new())
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// pino-compatible JSON lines (PROTOCOL §11.4, §14.8): numeric `level`,
/// `time` in epoch milliseconds, `pid`, `hostname`, `msg`, `context` (the
/// emitting module), then the fields of every enclosing span (outermost
/// first, so a cycle's `tenant`, `cycle_id`, `phase` and a space's fields
/// reach every line inside it) and of the event itself. `tenant` is also
/// written as `tenantName`, the reference's name for it. Values are the
/// ones the call sites log; secrets never reach a field (they are
/// `SecretString`s, whose `Debug` is redacted).
#[derive(Debug)]
struct PinoJson {
    pid: u32,
    hostname: String,
}

impl PinoJson {
    fn new() -> Self {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        PinoJson {
            pid: std::process::id(),
            hostname,
        }
    }
}

/// pino's numbers: trace 10, debug 20, info 30, warn 40, error 50.
fn pino_level(level: &Level) -> u8 {
    match *level {
        Level::TRACE => 10,
        Level::DEBUG => 20,
        Level::INFO => 30,
        Level::WARN => 40,
        Level::ERROR => 50,
    }
}

impl<S, N> FormatEvent<S, N> for PinoJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut line = Map::new();
        line.insert("level".into(), Json::from(pino_level(metadata.level())));
        line.insert("time".into(), Json::from(time));
        line.insert("pid".into(), Json::from(self.pid));
        line.insert("hostname".into(), Json::from(self.hostname.as_str()));
        line.insert("context".into(), Json::from(metadata.target()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                // `JsonFields` stores each span's fields as a JSON object.
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Json::Object(fields)) = serde_json::from_str::<Json>(fields.as_str())
                {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut FieldVisitor(&mut line));
        if let Some(message) = line.remove("message") {
            line.insert("msg".into(), message);
        }
        if let Some(tenant) = line.get("tenant").cloned() {
            line.entry("tenantName").or_insert(tenant);
        }
        writeln!(writer, "{}", Json::Object(line))
    }
}

/// Event fields as JSON values: numbers and booleans stay typed.
struct FieldVisitor<'a>(&'a mut Map<String, Json>);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Json::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Json::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Json::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Json::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Json::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Json::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_are_pino_shaped_and_carry_the_enclosing_span_fields() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(PinoJson::new())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let run = tracing::info_span!("run", phase = tracing::field::Empty);
            let _run = run.enter();
            let cycle = tracing::info_span!("cycle", tenant = "acme", cycle_id = "0a1b2c3d");
            let _cycle = cycle.enter();
            run.record("phase", "diffing");
            tracing::warn!(space_key = "SP", count = 3_u64, "guard passed");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Json = serde_json::from_str(text.trim()).expect(&text);
        assert_eq!(line["level"], 40);
        assert_eq!(line["msg"], "guard passed");
        assert_eq!(line["tenantName"], "acme");
        assert_eq!(line["cycle_id"], "0a1b2c3d");
        assert_eq!(line["phase"], "diffing");
        assert_eq!(line["space_key"], "SP");
        assert_eq!(line["count"], 3);
        assert_eq!(line["pid"], std::process::id());
        assert!(line["time"].as_u64().unwrap() > 1_600_000_000_000, "{line}");
        assert!(line["context"].as_str().unwrap().contains("logging"));
    }

    #[test]
    fn every_level_round_trips_through_its_name() {
        for level in LogLevel::ALL {
            assert_eq!(level.as_str().parse::<LogLevel>(), Ok(level));
        }
    }

    #[test]
    fn unknown_level_names_the_choices() {
        let err = "verbose".parse::<LogLevel>().unwrap_err();
        assert!(err.contains("`verbose`"), "{err}");
        assert!(
            err.contains("fatal, error, warn, info, debug, trace, silent"),
            "{err}"
        );
    }
}

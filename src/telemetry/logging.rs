//! Subscriber initialisation: JSON lines by default, human-readable text on
//! a terminal or with `NODE_ENV=development`.

use std::{fmt, io::IsTerminal, str::FromStr};

use tracing_subscriber::{EnvFilter, filter::LevelFilter};

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
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

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

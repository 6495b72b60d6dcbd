//! Logging: JSON lines by default (what log collectors expect), pretty text for humans.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// Installs the global subscriber. `RUST_LOG` overrides the default filter.
pub fn init(format: LogFormat) {
    let directives = filter_directives(std::env::var("RUST_LOG").ok().as_deref());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // try_init: tests and embedded servers may already have installed one.
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

/// The filter for a `RUST_LOG` value. rmcp logs every message it sends and receives at debug,
/// whole tool results included (users' task titles and descriptions), so a general `debug`
/// leaves rmcp at info; naming rmcp in `RUST_LOG` (`debug,rmcp=debug`) is the deliberate way to
/// see them.
fn filter_directives(rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => DEFAULT_FILTER.to_string(),
        Some(value) if value.contains("rmcp") => value.to_string(),
        Some(value) => format!("{value},rmcp=info"),
    }
}

#[cfg(test)]
mod tests {
    use super::filter_directives;

    #[test]
    fn debug_logging_keeps_tool_results_out_unless_rmcp_is_named() {
        assert_eq!(filter_directives(None), super::DEFAULT_FILTER);
        assert_eq!(filter_directives(Some("debug")), "debug,rmcp=info");
        assert_eq!(filter_directives(Some("debug,rmcp=trace")), "debug,rmcp=trace");
    }
}

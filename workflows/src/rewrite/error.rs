//! The rewrite step's error type: what can stop a rewrite, classified as retryable or permanent.
//!
//! A malformed PHP value is *not* an error: it is left unchanged and counted in the statistics.
//! Errors are reserved for things that make the whole stream untrustworthy (a broken pipe, a dump
//! that ends inside a data block, a row that needs rewriting but cannot be understood).

/// Why a rule could not be built or a dump could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// An origin such as `https://example.com` could not be parsed.
    #[error("invalid origin {input:?}: {reason}")]
    InvalidOrigin {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Reading the dump or writing the rewritten stream failed.
    #[error("I/O error while rewriting the dump stream: {0}")]
    Io(#[from] std::io::Error),
    /// A statement or data line that contains a URL to rewrite could not be parsed, so it cannot
    /// be rewritten safely (and passing it through would leave production URLs on staging).
    #[error("line {line}{}: {reason}", table_suffix(.table))]
    Syntax {
        /// 1-based line number in the input stream where the statement starts.
        line: u64,
        /// The table being loaded, when known.
        table: Option<String>,
        /// What could not be understood.
        reason: String,
    },
    /// The policy names columns of this table, but the dump does not say in which order its
    /// columns come (e.g. a mysqldump without `CREATE TABLE` statements).
    #[error("table {table}: the rewrite policy names columns of this table, but the dump does not give its column order")]
    UnknownColumns {
        /// The table.
        table: String,
    },
    /// The literal pairs could not be compiled (too many or too long for the automaton).
    #[error("cannot compile the literal replacements: {0}")]
    Literals(String),
    /// The input ended inside a data block (the dump tool probably died).
    #[error("the dump ended inside the data of table {table}")]
    Truncated {
        /// The table whose data was cut off.
        table: String,
    },
}

fn table_suffix(table: &Option<String>) -> String {
    match table {
        Some(t) => format!(" (table {t})"),
        None => String::new(),
    }
}

impl RewriteError {
    /// Whether running the step again may succeed: only I/O errors (a pipe to a dump tool or
    /// loader that broke) are worth retrying; everything else is in the data or the configuration.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RewriteError::Io(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_classification() {
        let e = RewriteError::Syntax {
            line: 7,
            table: Some("wp_posts".into()),
            reason: "unterminated string".into(),
        };
        assert_eq!(
            e.to_string(),
            "line 7 (table wp_posts): unterminated string"
        );
        assert!(!e.is_retryable());
        let io = RewriteError::from(std::io::Error::other("broken pipe"));
        assert!(io.is_retryable());
    }
}

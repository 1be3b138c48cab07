//! The clone's rewrite step: production URLs → staging URLs in a database dump, streaming and
//! safe for PHP-serialized data; when anonymizing, also literal pairs (collected e-mails, IPs,
//! names → fakes) through the same serialized-length fixing, and whole-field replacements by a
//! row map (personal columns) in the dump adapters.
//!
//! ```text
//! pg_dump   ──► PgCopyRewriter    ──► psql
//! mysqldump ──► MysqlDumpRewriter ──► mysql
//!                  │ per value (real, unescaped bytes)
//!                  ▼
//!               Rewriter::rewrite_value ── serialized? ─► structural rewrite, lengths fixed
//!                                       └─ text ───────► boundary-safe URL replacement
//! ```
//!
//! Files, one concept each:
//! - [`rule`]: origins, rules and options (what maps to what).
//! - `url_grammar`: the URL grammar — spellings (`https://`, `http://`, `//`, `https:\/\/` and
//!   JSON nested in JSON `https:\\\/\\\/`, `https:\u002F\u002F`, `https%3A%2F%2F`) and boundaries
//!   (`admin@host`, `host.au`, `cdn.host`, `host:8080`, `host\u002Eevil.org`).
//! - `url_match`: finding every rule's host fast (`memmem`) and writing the staging spelling.
//! - `serialized`: the PHP `serialize()` grammar, parsed structurally, lengths fixed.
//! - [`rewriter`]: one value in, [`Outcome`] out; the malformed policy.
//! - [`column_kind`]: text, binary or array-of-text columns ([`ColumnKinds`] for a COPY stream).
//! - `binary`: binary values (rewritten only when UTF-8) and their hex forms (`\x…`, `0x…`).
//! - `pg_array`: PostgreSQL arrays of text, rewritten element by element.
//! - [`literal`]: literal pairs (collected e-mails, IPs, names → fakes), boundary-checked, found
//!   with one Aho-Corasick automaton; the rewriter applies them after the URL rules.
//! - [`row_map`]: the hook for whole-field replacements decided per row (anonymized columns).
//! - [`policy`]: columns and rows that are never rewritten.
//! - [`stats`]: per-table counters returned by the adapters.
//! - `pg_escape` / [`pg_copy`]: PostgreSQL COPY text escaping and the `pg_dump` adapter.
//! - `mysql_escape` / `mysql_syntax` / `mysql_insert` / [`mysql_dump`]: MySQL string escaping,
//!   SQL lexing and `CREATE TABLE` columns, INSERT statements, and the `mysqldump` adapter.
//! - [`error`]: [`RewriteError`], classified retryable / permanent.
//!
//! Decisions:
//! - **Schemes.** `http://host` and `https://host` both become the staging origin's scheme
//!   ([`SchemeMapping::Target`], default); [`SchemeMapping::Preserve`] keeps each URL's scheme.
//!   `//host` stays protocol-relative. Other schemes (`ftp://host`) are never rewritten.
//! - **Boundaries.** A host is rewritten only after `scheme://` or `//` (in plain, JSON-escaped at
//!   any depth of JSON inside JSON — any run of backslashes before each `/`, the same for both
//!   slashes —, `\u002F`-escaped likewise, or percent-encoded spelling; each match keeps its own
//!   spelling in the output) and only when the host name ends there (also when the next
//!   character is escaped, `host\u002Eevil.org`, `host%2Eevil.org`):
//!   `host.au`, `host-x`, `host:8080` (unless the rule has that port) are other origins; `cdn.host`
//!   only with [`Options::include_subdomains`]; a bare `host` only with [`Options::bare_host`], and
//!   never `admin@host`. A rule's path prefix must end at a path boundary (`/blog` ≠ `/blogger`).
//!   Hosts are matched case-sensitively in lower case.
//! - **Serialized data** is recognised like WordPress's strict `is_serialized()`; string values
//!   are rewritten recursively (nested `maybe_serialize` strings, JSON inside strings, `C:`
//!   payloads) and every byte length is recomputed; array keys and property names are kept.
//!   Complete serialized values embedded in text are rewritten structurally too.
//! - **Malformed values** (claim to be serialized, do not parse — wrong lengths, truncation,
//!   nesting deeper than 128 arrays, objects and serialized strings together) are left byte-for-byte unchanged, counted in
//!   [`TableStats::malformed`] and sampled in [`DumpStats::malformed_samples`]. Only values that
//!   contain a candidate host are ever inspected.
//! - **Binary columns** (`bytea`, BLOB, VARBINARY) are decoded from the dump's hex; a value whose
//!   bytes are UTF-8 is rewritten like text (serialized-aware), any other bytes are left exactly
//!   as they are ([`TableStats::binary_kept`] counts those that held a candidate host) and the
//!   result is written back as hex. Arrays of text are rewritten element by element. A mysqldump
//!   names its binary columns in `CREATE TABLE`; a COPY stream needs [`ColumnKinds`].
//! - **Pass-through.** Outside COPY data (PostgreSQL) or INSERT statements (MySQL) nothing is
//!   touched: DDL, comments, function bodies. PostgreSQL `INSERT`s (`pg_dump --inserts`) are
//!   counted in [`DumpStats::statements_not_rewritten`], not rewritten.
//! - **Unreadable data** that contains a candidate host is an error ([`RewriteError::Syntax`]);
//!   without a candidate it passes through unchanged.
//!
//! Limitations (not rewritten): upper-case hosts (`https://EXAMPLE.com`), double-encoded
//! (`%253A`), HTML-entity spellings, escaped colons (`https\u003A//`), URLs with user info
//! (`https://user@host`), IPv6 hosts, explicit default ports (`:443` counts as another origin),
//! PHP `S:` escaped strings. Serialized data inside a JSON string (quotes escaped as `\"`) gets
//! plain replacement, so its inner lengths are not fixed. Memory is bounded by the longest line
//! (COPY) or statement (mysqldump), which is held whole; column names of a mysqldump come from
//! `CREATE TABLE` in mysqldump's one-column-per-line layout.

mod binary;
pub mod column_kind;
pub mod error;
pub mod literal;
mod literal_tokens;
pub mod mysql_dump;
mod mysql_escape;
mod mysql_insert;
mod mysql_syntax;
mod pg_array;
pub mod pg_copy;
mod pg_escape;
pub mod policy;
pub mod rewriter;
pub mod row_map;
pub mod rule;
mod serialized;
pub mod stats;
mod url_grammar;
mod url_match;

pub use column_kind::{ColumnKind, ColumnKinds};
pub use error::RewriteError;
pub use literal::{Boundary, Literals, LiteralsBuilder};
pub use mysql_dump::MysqlDumpRewriter;
pub use pg_copy::PgCopyRewriter;
pub use policy::{ColumnSkip, Policy, RowSkip, TablePlan};
pub use rewriter::{Outcome, Rewriter};
pub use row_map::{Replacement, RowMap, TableMap};
pub use rule::{Options, Origin, Rule, Scheme, SchemeMapping};
pub use stats::{DumpStats, MalformedValue, TableStats, MALFORMED_SAMPLE_LIMIT};

#[cfg(test)]
mod anonymize_tests;
#[cfg(test)]
mod dump_tests;
#[cfg(test)]
mod php_oracle_tests;
#[cfg(test)]
mod throughput_tests;
#[cfg(test)]
mod url_tests;
#[cfg(test)]
mod value_tests;

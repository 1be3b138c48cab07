//! Whole-field replacements decided row by row, applied by the dump adapters before the value
//! rewriter: a field the map replaces gets the map's bytes and is not rewritten further; every
//! other field goes through the [`super::Rewriter`] as usual.
//!
//! This file owns only the hook. What to replace (anonymization: a personal column gets its fake
//! value, a meta row is selected by its key) is decided by the caller's [`RowMap`]. A map
//! applies to rows that the [`super::Policy`] protects too: explicit replacements win.

use std::borrow::Cow;

/// Decides, per table, whether and how rows are mapped.
pub trait RowMap: Send + Sync {
    /// Whether the map may touch `table` at all (the adapters then need its column names).
    fn wants(&self, table: &str) -> bool;

    /// The map for `table`, whose columns are `columns` in dump order; `None` when nothing in
    /// this table is ever replaced.
    fn table(&self, table: &str, columns: &[String]) -> Option<Box<dyn TableMap>>;
}

/// The map resolved against one table's columns.
pub trait TableMap: Send {
    /// Pushes the replacements for one row. `field(i)` returns the value of column `i`
    /// (unescaped bytes, or the literal text of a number) or `None` for NULL.
    fn map_row(&self, field: &mut dyn FnMut(usize) -> Option<Vec<u8>>, out: &mut Vec<Replacement>);
}

/// A new value for one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// Column index in dump order.
    pub column: usize,
    /// The new bytes (unescaped).
    pub value: Vec<u8>,
    /// Where, for the statistics (e.g. `users.user_email`); never a value.
    pub location: Cow<'static, str>,
}

/// The replacement for column `i`, if any (rows have few replacements: a scan is cheapest).
pub(crate) fn replacement_for(replacements: &[Replacement], i: usize) -> Option<&Replacement> {
    replacements.iter().find(|r| r.column == i)
}

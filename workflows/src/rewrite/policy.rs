//! What must never be rewritten: whole columns (e.g. `wp_posts.guid`) and whole rows selected by a
//! key column (e.g. the `wc_subscriptions_siteurl` option, which WooCommerce Subscriptions uses to
//! notice that it runs on a clone and must not charge customers).
//!
//! Tables are matched by name suffix so one policy covers `wp_posts`, `wp_2_posts` and custom
//! prefixes; column names are compared ASCII-case-insensitively (MySQL column names are).

use super::error::RewriteError;

/// Never rewrite this column in tables whose name ends with `table_suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSkip {
    /// End of the table name, e.g. `_posts`.
    pub table_suffix: String,
    /// Column name, e.g. `guid`.
    pub column: String,
}

/// Never rewrite any value of a row whose `key_column` equals one of `values`, in tables whose
/// name ends with `table_suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowSkip {
    /// End of the table name, e.g. `_options`.
    pub table_suffix: String,
    /// The column that identifies the row, e.g. `option_name`.
    pub key_column: String,
    /// Key values (exact bytes) whose rows are left alone.
    pub values: Vec<Vec<u8>>,
}

/// The never-rewrite policy of a clone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Columns left alone.
    pub skip_columns: Vec<ColumnSkip>,
    /// Rows left alone.
    pub skip_rows: Vec<RowSkip>,
}

impl Policy {
    /// A policy that rewrites everything.
    pub fn none() -> Policy {
        Policy::default()
    }

    /// WordPress defaults: `*_posts.guid` (WordPress: never change GUIDs) and the
    /// `wc_subscriptions_siteurl` row of `*_options` (clone detection).
    pub fn wordpress() -> Policy {
        Policy::none().skip_column("_posts", "guid").skip_rows(
            "_options",
            "option_name",
            ["wc_subscriptions_siteurl"],
        )
    }

    /// Adds a column to leave alone.
    pub fn skip_column(mut self, table_suffix: &str, column: &str) -> Policy {
        self.skip_columns.push(ColumnSkip {
            table_suffix: table_suffix.to_string(),
            column: column.to_string(),
        });
        self
    }

    /// Adds rows to leave alone: those whose `key_column` is one of `values`. Values for the same
    /// table and key column are merged.
    pub fn skip_rows<I, V>(mut self, table_suffix: &str, key_column: &str, values: I) -> Policy
    where
        I: IntoIterator<Item = V>,
        V: AsRef<[u8]>,
    {
        let values = values.into_iter().map(|v| v.as_ref().to_vec());
        match self
            .skip_rows
            .iter_mut()
            .find(|r| r.table_suffix == table_suffix && r.key_column == key_column)
        {
            Some(rule) => rule.values.extend(values),
            None => self.skip_rows.push(RowSkip {
                table_suffix: table_suffix.to_string(),
                key_column: key_column.to_string(),
                values: values.collect(),
            }),
        }
        self
    }

    /// Resolves the policy for one table whose columns are `columns` in dump order (`None` when
    /// the dump does not say). Fails if the policy names this table but the columns are unknown.
    pub fn plan(&self, table: &str, columns: Option<&[String]>) -> Result<TablePlan, RewriteError> {
        let col_rules: Vec<&ColumnSkip> = self
            .skip_columns
            .iter()
            .filter(|c| table.ends_with(&c.table_suffix))
            .collect();
        let row_rules: Vec<&RowSkip> = self
            .skip_rows
            .iter()
            .filter(|r| table.ends_with(&r.table_suffix))
            .collect();
        let Some(columns) = columns else {
            if col_rules.is_empty() && row_rules.is_empty() {
                return Ok(TablePlan::default());
            }
            return Err(RewriteError::UnknownColumns {
                table: table.to_string(),
            });
        };
        let index = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
        let mut skip = vec![false; columns.len()];
        for rule in col_rules {
            if let Some(i) = index(&rule.column) {
                skip[i] = true;
            }
        }
        let row_keys = row_rules
            .into_iter()
            .filter_map(|r| index(&r.key_column).map(|i| (i, r.values.clone())))
            .collect();
        Ok(TablePlan { skip, row_keys })
    }
}

/// The policy resolved against one table's column order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TablePlan {
    skip: Vec<bool>,
    row_keys: Vec<(usize, Vec<Vec<u8>>)>,
}

impl TablePlan {
    /// Whether the column at `index` is left alone.
    pub fn skips_column(&self, index: usize) -> bool {
        self.skip.get(index).copied().unwrap_or(false)
    }

    /// Whether some row rule applies to this table (so rows must be checked).
    pub fn has_row_rules(&self) -> bool {
        !self.row_keys.is_empty()
    }

    /// Whether a row is left alone; `value(i)` returns the decoded value of column `i` (`None`
    /// for NULL or a missing column).
    pub fn skips_row<F>(&self, mut value: F) -> bool
    where
        F: FnMut(usize) -> Option<Vec<u8>>,
    {
        self.row_keys
            .iter()
            .any(|(i, values)| value(*i).is_some_and(|v| values.contains(&v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wordpress_policy_skips_guid_and_subscription_siteurl() {
        let policy = Policy::wordpress();
        let posts = cols(&["ID", "post_content", "GUID"]);
        let plan = policy.plan("wp_2_posts", Some(&posts)).unwrap();
        assert!(!plan.skips_column(0));
        assert!(!plan.skips_column(1));
        assert!(plan.skips_column(2));
        assert!(!plan.has_row_rules());

        let options = cols(&["option_id", "option_name", "option_value", "autoload"]);
        let plan = policy.plan("wp_options", Some(&options)).unwrap();
        assert!(plan.has_row_rules());
        let row = |name: &'static str| move |i: usize| (i == 1).then(|| name.as_bytes().to_vec());
        assert!(plan.skips_row(row("wc_subscriptions_siteurl")));
        assert!(!plan.skips_row(row("siteurl")));
        assert!(!plan.skips_row(|_| None));
    }

    #[test]
    fn unknown_columns_only_matter_when_the_policy_names_the_table() {
        let policy = Policy::wordpress();
        assert_eq!(policy.plan("wp_users", None).unwrap(), TablePlan::default());
        assert!(matches!(
            policy.plan("wp_posts", None),
            Err(RewriteError::UnknownColumns { table }) if table == "wp_posts"
        ));
    }

    #[test]
    fn row_values_merge() {
        let policy = Policy::wordpress().skip_rows("_options", "option_name", ["home_lock"]);
        assert_eq!(policy.skip_rows.len(), 1);
        assert_eq!(policy.skip_rows[0].values.len(), 2);
    }
}

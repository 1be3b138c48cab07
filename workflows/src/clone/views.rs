//! MariaDB/MySQL views of the site on staging. A view cannot move between databases with
//! `RENAME TABLE`, so the copy never carries one: the `swap` drops the live staging's views
//! before it parks that copy, and the `views` step after it recreates production's views of
//! the site (its table prefix) in staging, their definitions pointed at the staging database.
//! `CREATE OR REPLACE` makes the step idempotent. A view that cannot be made (it reads a table
//! that is not copied, or its function is missing) is reported, not fatal.

use serde::{Deserialize, Serialize};
use sqlx::MySqlPool;

use super::mysql;

/// What the `views` step made.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ViewsReport {
    pub created: Vec<String>,
    /// `name: reason` of each view that could not be made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_created: Vec<String>,
}

/// One view as `information_schema.VIEWS` has it.
struct View {
    name: String,
    definition: String,
    invoker: bool,
    check_option: String,
}

async fn views_of(pool: &MySqlPool, database: &str) -> Result<Vec<View>, sqlx::Error> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(view_definition AS CHAR), \
         CAST(security_type AS CHAR), CAST(check_option AS CHAR) \
         FROM information_schema.views WHERE table_schema = ? ORDER BY table_name",
    )
    .bind(database)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, definition, security, check_option)| View {
            name,
            definition,
            invoker: security.eq_ignore_ascii_case("INVOKER"),
            check_option,
        })
        .collect())
}

/// Drops every view of `database` (the live staging copy, before it is parked).
pub async fn drop_all(admin: &MySqlPool, database: &str) -> Result<(), sqlx::Error> {
    for view in views_of(admin, database).await? {
        sqlx::query(&format!(
            "DROP VIEW IF EXISTS {}.{}",
            mysql::quote_ident(database),
            mysql::quote_ident(&view.name)
        ))
        .execute(admin)
        .await?;
    }
    Ok(())
}

/// The `CREATE OR REPLACE VIEW` of `view` in `staging`: the production database's qualifier
/// replaced by staging's (MariaDB stores definitions fully qualified), no `DEFINER` (the
/// production account may not exist here; the view is Understudy's account's), the security
/// type and check option kept.
fn create_statement(view: &View, production: &str, staging: &str) -> String {
    let definition = view.definition.replace(
        &format!("{}.", mysql::quote_ident(production)),
        &format!("{}.", mysql::quote_ident(staging)),
    );
    let security = if view.invoker { "INVOKER" } else { "DEFINER" };
    let check = match view.check_option.to_ascii_uppercase().as_str() {
        "CASCADED" => " WITH CASCADED CHECK OPTION",
        "LOCAL" => " WITH LOCAL CHECK OPTION",
        _ => "",
    };
    format!(
        "CREATE OR REPLACE SQL SECURITY {security} VIEW {}.{} AS {definition}{check}",
        mysql::quote_ident(staging),
        mysql::quote_ident(&view.name)
    )
}

/// Recreates production's views of the site (name starting with `prefix`) in `staging`.
pub async fn recreate(
    source: &MySqlPool,
    production: &str,
    admin: &MySqlPool,
    staging: &str,
    prefix: &str,
) -> Result<ViewsReport, sqlx::Error> {
    let mut report = ViewsReport::default();
    for view in views_of(source, production).await? {
        if !view.name.starts_with(prefix) {
            continue;
        }
        match sqlx::query(&create_statement(&view, production, staging))
            .execute(admin)
            .await
        {
            Ok(_) => report.created.push(view.name),
            Err(sqlx::Error::Database(e)) => {
                report
                    .not_created
                    .push(format!("{}: {}", view.name, e.message()))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_points_at_staging_and_keeps_security_and_check() {
        let view = View {
            name: "wp_pub`lished".into(),
            definition: "select `shop`.`wp_posts`.`ID` AS `ID` from `shop`.`wp_posts` where `shop`.`wp_posts`.`post_status` = 'shop'".into(),
            invoker: true,
            check_option: "LOCAL".into(),
        };
        assert_eq!(
            create_statement(&view, "shop", "shop_staging"),
            "CREATE OR REPLACE SQL SECURITY INVOKER VIEW `shop_staging`.`wp_pub``lished` AS \
             select `shop_staging`.`wp_posts`.`ID` AS `ID` from `shop_staging`.`wp_posts` \
             where `shop_staging`.`wp_posts`.`post_status` = 'shop' WITH LOCAL CHECK OPTION"
        );
    }
}

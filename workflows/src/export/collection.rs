//! One `collection:<name>:page:<n>` step (or `collection:<name>` for single-object routes):
//! fetch the page, scrub it, write it into the bundle, and return its checksum, the totals the
//! site announced and the media it refers to. The checkpoint is the cursor: on resume, pages
//! already checkpointed are not fetched again.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bundle::{Bundle, Written};
use super::catalog::Collection;
use super::client::{refused, WpClient};
use super::error::ExportError;
use super::references::MediaRefs;

/// REST's maximum page size.
pub const PER_PAGE: u32 = 100;

/// More pages than this (10 million items) is not a site but a hostile answer.
const MAX_PAGES: u64 = 100_000;

/// User fields that are secrets or session data, never written to a bundle.
const USER_SECRETS: &[&str] = &[
    "password",
    "user_pass",
    "user_activation_key",
    "application_passwords",
    "session_tokens",
];

/// The checkpointed output of one page step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PageOutcome {
    /// The page is in the bundle.
    Saved {
        file: Written,
        items: u64,
        /// `X-WP-Total` as the site announced it with this page.
        total: Option<u64>,
        /// `X-WP-TotalPages` (1 for single-object routes).
        total_pages: u32,
        refs: MediaRefs,
    },
    /// An optional route the site does not offer or this user may not read.
    Skipped { status: u16, reason: String },
}

/// The stable step name of a page.
pub fn step_name(collection: &Collection, page: u32) -> String {
    if collection.paginated {
        format!("collection:{}:page:{page}", collection.name)
    } else {
        format!("collection:{}", collection.name)
    }
}

/// Fetches and stores page `page` of `collection`.
pub async fn fetch_page(
    client: &WpClient,
    bundle: &Bundle,
    collection: &Collection,
    page: u32,
) -> Result<PageOutcome, ExportError> {
    let mut params: Vec<(&str, String)> = collection
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    if collection.paginated {
        params.push(("per_page", PER_PAGE.to_string()));
        params.push(("page", page.to_string()));
    }
    let url = client.route_url(&collection.route, &params);
    let response = client.get_json(&url).await?;
    let status = response.status;
    if !status.is_success() {
        let code = response.error_code();
        let past_end = status == StatusCode::BAD_REQUEST && code.ends_with("invalid_page_number");
        if past_end && page > 1 {
            // The collection shrank since page 1: this page is empty now.
            return store(
                bundle,
                collection,
                page,
                Value::Array(Vec::new()),
                None,
                page - 1,
            );
        }
        // 400 rest_invalid_param: this user may not ask for that status (an Editor and
        // `navigation?status=any`); the route is readable only in part, so it is skipped.
        let refused_param = status == StatusCode::BAD_REQUEST && code == "rest_invalid_param";
        let may_skip =
            (matches!(status.as_u16(), 401 | 403 | 404) || refused_param) && collection.optional;
        if may_skip && page == 1 {
            return Ok(PageOutcome::Skipped {
                status: status.as_u16(),
                reason: format!("{code}: {}", response.error_message()),
            });
        }
        return Err(refused(&url, &response));
    }
    let total = response.header_u64("X-WP-Total");
    let total_pages = response.header_u64("X-WP-TotalPages").unwrap_or(1);
    if total_pages > MAX_PAGES {
        return Err(ExportError::Hostile {
            url: url.to_string(),
            why: format!(
                "X-WP-TotalPages {total_pages} is beyond any real site ({MAX_PAGES} pages)"
            ),
        });
    }
    let total_pages = total_pages as u32;
    let mut body = response.body;
    if collection.paginated && !body.is_array() {
        return Err(ExportError::Hostile {
            url: url.to_string(),
            why: "a collection page that is not a JSON array".into(),
        });
    }
    if collection.scrub {
        scrub_users(&mut body);
    }
    store(bundle, collection, page, body, total, total_pages)
}

fn store(
    bundle: &Bundle,
    collection: &Collection,
    page: u32,
    body: Value,
    total: Option<u64>,
    total_pages: u32,
) -> Result<PageOutcome, ExportError> {
    let mut refs = MediaRefs::default();
    if collection.content {
        for item in body.as_array().into_iter().flatten() {
            refs.add_item(item);
        }
    }
    if collection.name == "settings" {
        refs.add_settings(&body);
    }
    let items = match &body {
        Value::Array(a) => a.len() as u64,
        Value::Null => 0,
        _ => 1,
    };
    let file = bundle.write_page(&collection.name, page, &body)?;
    Ok(PageOutcome::Saved {
        file,
        items,
        total,
        total_pages,
        refs,
    })
}

/// Drops secret fields from user objects (wherever they appear at the top level of an item).
fn scrub_users(body: &mut Value) {
    for user in body.as_array_mut().into_iter().flatten() {
        if let Some(object) = user.as_object_mut() {
            for key in USER_SECRETS {
                object.remove(*key);
            }
            if let Some(meta) = object.get_mut("meta").and_then(Value::as_object_mut) {
                meta.retain(|k, _| !USER_SECRETS.contains(&k.as_str()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_secrets_are_dropped() {
        let mut users = json!([{"id": 1, "name": "a", "password": "x", "meta": {"session_tokens": "t", "ok": 1}}]);
        scrub_users(&mut users);
        assert_eq!(users, json!([{"id": 1, "name": "a", "meta": {"ok": 1}}]));
    }
}

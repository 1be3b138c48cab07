//! What an export reads: the built-in collections plus the custom post types and taxonomies the
//! site declares in `/wp/v2/types` and `/wp/v2/taxonomies`. The `plan` step's output.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::WpClient;
use super::error::ExportError;

/// One thing to export: a REST route, its query, and how to treat it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Collection {
    /// File and step name: `posts`, `comments-spam`, `books`, `settings`.
    pub name: String,
    /// REST route, e.g. `/wp/v2/posts`.
    pub route: String,
    /// Query parameters besides `page` and `per_page`.
    pub params: Vec<(String, String)>,
    /// Paginated with `per_page=100` and `X-WP-TotalPages`; otherwise one request.
    pub paginated: bool,
    /// Skipped with a note (not an error) when the route answers 404, 403 or 401.
    pub optional: bool,
    /// Items may reference media (posts, pages, custom post types, blocks).
    pub content: bool,
    /// Remove personal secrets from each item (users).
    pub scrub: bool,
}

impl Collection {
    fn new(name: &str, route: &str, params: &[(&str, &str)]) -> Collection {
        Collection {
            name: name.to_string(),
            route: route.to_string(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            paginated: true,
            optional: false,
            content: false,
            scrub: false,
        }
    }
    fn single(mut self) -> Self {
        self.paginated = false;
        self
    }
    fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    fn content(mut self) -> Self {
        self.content = true;
        self
    }
}

const EDIT: (&str, &str) = ("context", "edit");
const ANY: (&str, &str) = ("status", "any");
/// `status=any` leaves the trash out: trashed entries are a collection of their own.
const TRASH: (&str, &str) = ("status", "trash");

/// Post types and taxonomies exported under their own names, not as "custom".
const BUILTIN_TYPES: &[&str] = &[
    "post",
    "page",
    "attachment",
    "nav_menu_item",
    "wp_block",
    "wp_template",
    "wp_template_part",
    "wp_navigation",
    "wp_global_styles",
];
const BUILTIN_TAXONOMIES: &[&str] = &[
    "category",
    "post_tag",
    "nav_menu",
    "wp_theme",
    "wp_template_part_area",
];

/// Every collection of the site, in export order (media metadata before content, so that the
/// media plan can resolve references).
pub async fn plan(client: &WpClient) -> Result<Vec<Collection>, ExportError> {
    let types = client
        .get_ok("/wp/v2/types", &[("context", "edit".into())])
        .await?
        .body;
    let taxonomies = client
        .get_ok("/wp/v2/taxonomies", &[("context", "edit".into())])
        .await?
        .body;
    let mut list = vec![
        Collection::new("settings", "/wp/v2/settings", &[])
            .single()
            .optional(),
        Collection::new("types", "/wp/v2/types", &[EDIT]).single(),
        Collection::new("taxonomies", "/wp/v2/taxonomies", &[EDIT]).single(),
        Collection::new("media", "/wp/v2/media", &[EDIT]),
        Collection::new("posts", "/wp/v2/posts", &[EDIT, ANY]).content(),
        Collection::new("posts-trash", "/wp/v2/posts", &[EDIT, TRASH])
            .content()
            .optional(),
        Collection::new("pages", "/wp/v2/pages", &[EDIT, ANY]).content(),
        Collection::new("pages-trash", "/wp/v2/pages", &[EDIT, TRASH])
            .content()
            .optional(),
    ];
    for (slug, rest_base) in custom(&types, BUILTIN_TYPES) {
        let name = file_name(&rest_base, &slug);
        let route = format!("/wp/v2/{rest_base}");
        list.push(
            Collection::new(&name, &route, &[EDIT, ANY])
                .content()
                .optional(),
        );
        list.push(
            Collection::new(&format!("{name}-trash"), &route, &[EDIT, TRASH])
                .content()
                .optional(),
        );
    }
    list.extend([
        Collection::new("blocks", "/wp/v2/blocks", &[EDIT, ANY])
            .content()
            .optional(),
        Collection::new("categories", "/wp/v2/categories", &[EDIT]),
        Collection::new("tags", "/wp/v2/tags", &[EDIT]),
    ]);
    for (slug, rest_base) in custom(&taxonomies, BUILTIN_TAXONOMIES) {
        list.push(
            Collection::new(
                &file_name(&rest_base, &slug),
                &format!("/wp/v2/{rest_base}"),
                &[EDIT],
            )
            .optional(),
        );
    }
    let mut users = Collection::new("users", "/wp/v2/users", &[EDIT]).optional();
    users.scrub = true;
    list.extend([
        // `status=all` is approved + held; spam and trash need their own queries.
        Collection::new("comments", "/wp/v2/comments", &[EDIT, ("status", "all")]),
        Collection::new(
            "comments-spam",
            "/wp/v2/comments",
            &[EDIT, ("status", "spam")],
        )
        .optional(),
        Collection::new(
            "comments-trash",
            "/wp/v2/comments",
            &[EDIT, ("status", "trash")],
        )
        .optional(),
        // The comments of trashed posts: WordPress sets them aside as `post-trashed`.
        Collection::new(
            "comments-post-trashed",
            "/wp/v2/comments",
            &[EDIT, ("status", "post-trashed")],
        )
        .optional(),
        users,
        Collection::new("menus", "/wp/v2/menus", &[EDIT]).optional(),
        Collection::new("menu-items", "/wp/v2/menu-items", &[EDIT]).optional(),
        Collection::new("menu-locations", "/wp/v2/menu-locations", &[EDIT])
            .single()
            .optional(),
        Collection::new("navigation", "/wp/v2/navigation", &[EDIT, ANY])
            .content()
            .optional(),
        Collection::new("templates", "/wp/v2/templates", &[EDIT])
            .single()
            .optional(),
        Collection::new("template-parts", "/wp/v2/template-parts", &[EDIT])
            .single()
            .optional(),
        Collection::new("plugins", "/wp/v2/plugins", &[EDIT])
            .single()
            .optional(),
        Collection::new("themes", "/wp/v2/themes", &[EDIT])
            .single()
            .optional(),
        Collection::new("sidebars", "/wp/v2/sidebars", &[EDIT])
            .single()
            .optional(),
        Collection::new("widgets", "/wp/v2/widgets", &[EDIT])
            .single()
            .optional(),
    ]);
    if let Some(stylesheet) = active_stylesheet(client).await? {
        list.push(
            Collection::new(
                "global-styles",
                &format!("/wp/v2/global-styles/themes/{stylesheet}"),
                &[EDIT],
            )
            .single()
            .optional(),
        );
    }
    Ok(list)
}

/// `(slug, rest_base)` of the types or taxonomies that are not built in and have a REST route.
fn custom(listing: &Value, builtin: &[&str]) -> Vec<(String, String)> {
    let Some(map) = listing.as_object() else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = map
        .iter()
        .filter(|(slug, _)| !builtin.contains(&slug.as_str()))
        .filter_map(|(slug, def)| {
            let base = def.get("rest_base").and_then(Value::as_str)?;
            let namespace = def
                .get("rest_namespace")
                .and_then(Value::as_str)
                .unwrap_or("wp/v2");
            (namespace == "wp/v2" && safe_route_part(base))
                .then(|| (slug.clone(), base.to_string()))
        })
        .collect();
    out.sort();
    out
}

/// A collection name usable as a file name and a step name.
fn file_name(rest_base: &str, slug: &str) -> String {
    let name: String = rest_base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        format!("type-{}", slug.len())
    } else {
        name
    }
}

fn safe_route_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 100
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The active theme's stylesheet, when the themes route is readable (administrators).
async fn active_stylesheet(client: &WpClient) -> Result<Option<String>, ExportError> {
    let url = client.route_url("/wp/v2/themes", &[("status", "active".into())]);
    let response = client.get_json(&url).await?;
    if !response.status.is_success() {
        return Ok(None);
    }
    Ok(response
        .body
        .as_array()
        .and_then(|themes| themes.first())
        .and_then(|t| t.get("stylesheet"))
        .and_then(Value::as_str)
        .filter(|s| safe_route_part(s))
        .map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_types_are_found_and_builtins_left_out() {
        let types = json!({
            "post": {"rest_base": "posts", "rest_namespace": "wp/v2"},
            "book": {"rest_base": "books", "rest_namespace": "wp/v2"},
            "odd": {"rest_base": "../evil", "rest_namespace": "wp/v2"},
            "elsewhere": {"rest_base": "things", "rest_namespace": "acme/v1"},
        });
        assert_eq!(
            custom(&types, BUILTIN_TYPES),
            vec![("book".into(), "books".into())]
        );
    }
}

//! Media that content refers to: featured images, `wp-image-N` classes, block attributes
//! (`"id"`, gallery `"ids"`, media-text `"mediaId"`), `[gallery ids="..."]` shortcodes and plain
//! URLs under `/wp-content/uploads/`.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Blocks whose `id` attribute is an attachment id.
const ID_BLOCKS: &[&str] = &[
    "image",
    "cover",
    "file",
    "video",
    "audio",
    "media-text",
    "gallery",
];

static WP_IMAGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"wp-image-(\d+)").expect("regex"));
static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<!--\s+wp:(?:core/)?([a-z][a-z0-9-]*)\s+(\{.*?\})\s+/?-->").expect("regex")
});
static GALLERY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\[gallery\b[^\]]*?\bids\s*=\s*["']?([0-9,\s]+)"#).expect("regex")
});
static UPLOAD_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:https?:)?(?://[A-Za-z0-9.\-:\[\]]+)?/wp-content/uploads/[^\s"'<>()\\?#]+"#)
        .expect("regex")
});

/// Media references found in some items.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MediaRefs {
    /// Attachment ids.
    pub ids: BTreeSet<u64>,
    /// Upload URLs as written in content (absolute, protocol-relative or root-relative).
    pub urls: BTreeSet<String>,
}

impl MediaRefs {
    /// Adds another set.
    pub fn merge(&mut self, other: &MediaRefs) {
        self.ids.extend(other.ids.iter().copied());
        self.urls.extend(other.urls.iter().cloned());
    }

    /// References of one REST item (a post, page, block, custom post type entry).
    pub fn add_item(&mut self, item: &Value) {
        if let Some(id) = item.get("featured_media").and_then(Value::as_u64) {
            if id > 0 {
                self.ids.insert(id);
            }
        }
        for field in ["content", "excerpt"] {
            let text = item.get(field).and_then(|f| {
                f.get("raw")
                    .or_else(|| f.get("rendered"))
                    .and_then(Value::as_str)
            });
            if let Some(text) = text {
                self.add_text(text);
            }
        }
    }

    /// References in settings: the site logo and icon.
    pub fn add_settings(&mut self, settings: &Value) {
        for key in ["site_logo", "site_icon"] {
            if let Some(id) = settings.get(key).and_then(Value::as_u64) {
                if id > 0 {
                    self.ids.insert(id);
                }
            }
        }
    }

    /// References in markup.
    pub fn add_text(&mut self, text: &str) {
        for c in WP_IMAGE.captures_iter(text) {
            if let Ok(id) = c[1].parse() {
                self.ids.insert(id);
            }
        }
        for c in BLOCK.captures_iter(text) {
            if !ID_BLOCKS.contains(&&c[1]) {
                continue;
            }
            let Ok(attrs) = serde_json::from_str::<Value>(&c[2]) else {
                continue;
            };
            for key in ["id", "mediaId"] {
                if let Some(id) = attrs.get(key).and_then(Value::as_u64) {
                    self.ids.insert(id);
                }
            }
            if let Some(ids) = attrs.get("ids").and_then(Value::as_array) {
                self.ids.extend(ids.iter().filter_map(Value::as_u64));
            }
        }
        for c in GALLERY.captures_iter(text) {
            self.ids.extend(
                c[1].split(',')
                    .filter_map(|id| id.trim().parse::<u64>().ok()),
            );
        }
        for m in UPLOAD_URL.find_iter(text) {
            self.urls.insert(m.as_str().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_of_reference_is_found() {
        let content = r#"
<!-- wp:image {"id":12,"sizeSlug":"large"} -->
<figure><img src="http://s.test/wp-content/uploads/2024/05/a-1024x768.png" class="wp-image-12"/></figure>
<!-- /wp:image -->
<!-- wp:gallery {"ids":[31,32],"columns":2} --><ul></ul><!-- /wp:gallery -->
<!-- wp:media-text {"mediaId":40,"mediaType":"image"} --><div></div><!-- /wp:media-text -->
<!-- wp:paragraph {"id":999} --><p>not media</p><!-- /wp:paragraph -->
<p><img class="alignnone wp-image-13" src="/wp-content/uploads/2023/01/b.png" /></p>
[gallery ids="50, 51,52" columns="3"]
<a href="//s.test/wp-content/uploads/2022/02/report.pdf?ver=2">pdf</a>"#;
        let mut refs = MediaRefs::default();
        refs.add_item(&json!({"featured_media": 7, "content": {"raw": content}}));
        assert_eq!(
            refs.ids.iter().copied().collect::<Vec<_>>(),
            vec![7, 12, 13, 31, 32, 40, 50, 51, 52]
        );
        assert_eq!(
            refs.urls.iter().cloned().collect::<Vec<_>>(),
            vec![
                "//s.test/wp-content/uploads/2022/02/report.pdf",
                "/wp-content/uploads/2023/01/b.png",
                "http://s.test/wp-content/uploads/2024/05/a-1024x768.png",
            ]
        );
    }
}

"""Deterministic words, names and titles, and the HTML/block markup of seeded content
(which references media, posts and reusable blocks by their real ids)."""


WORDS = ("archive backup cluster commit database deploy domain export garden harbor index "
         "journey kernel lantern library meadow migration mirror network orchard pipeline "
         "question record replica river schema server shadow signal snapshot stream summit "
         "table theme thread upload valley vector window worker")
WORDS = WORDS.split()
ADJECTIVES = ("quiet bright hidden rapid careful ancient modern gentle bold curious silent "
              "golden northern patient practical remote simple steady").split()
# Non-ASCII on purpose: serialized lengths and slugs must be computed on bytes.
SNIPPETS = ["Grüße aus München – café, naïve, Straße.", "Ça coûte 12 € à Paris.",
            "Сделано в Москве.", "東京での移行テスト。", "Emoji check: 🚀 ✅ 🐘.",
            "Zażółć gęślą jaźń.", "Ελληνικά γράμματα.", "Quotes: “smart” ‘single’ — dash."]
TITLE_EXTRAS = ["Überraschung in München", "Café au lait à Lyon", "Привет, мир",
                "東京の秋", "Ñandú and jalapeño", "Smørrebrød i København"]
FIRST_NAMES = "Anna Ben Chiara David Elif Femi Greta Hugo Ines Jonas Kaito Lena Malik Nora Oskar Priya".split()
LAST_NAMES = "Schmidt Okafor Rossi Nguyen Yilmaz Adeyemi Lindqvist Moreau Silva Becker Tanaka Novak Haddad Berg Kowalski Sharma".split()
CATEGORY_TREE = [
    ("News", [("World", []), ("Local", [("Berlin", []), ("Hamburg", [])])]),
    ("Technology", [("Databases", [("PostgreSQL", []), ("MariaDB", [])]),
                    ("Web", [("WordPress", []), ("Rust", [])])]),
    ("Travel", [("Europe", []), ("Asia", [])]),
    ("Food & Drink", []),
    ("Guides", [("How-to", [])]),
]
GENRE_TREE = [("Fiction", [("Fantasy", []), ("Mystery", [])]), ("Non-fiction", [("History", []), ("Science", [])])]
PAGE_NAMES = ("About Team Careers Contact Services Pricing FAQ Imprint Locations History Partners Press "
              "Support Documentation Consulting Hosting Training Events Newsletter Accessibility").split()
COLORS = [(230, 57, 70), (29, 53, 87), (69, 123, 157), (168, 218, 220), (241, 250, 238), (42, 157, 143),
          (233, 196, 106), (244, 162, 97), (231, 111, 81), (38, 70, 83), (131, 56, 236), (255, 190, 11)]
IMAGE_SIZES = [(640, 480), (800, 600), (1024, 768), (1200, 800), (1600, 900), (1920, 1080), (480, 640),
               (300, 300), (150, 150), (1000, 1000), (900, 1350), (1280, 720)]


def sentence(rng, words=None):
    n = words or rng.randint(7, 16)
    text = " ".join(rng.choice(WORDS + ADJECTIVES) for _ in range(n))
    return text[0].upper() + text[1:] + "."


def paragraph(rng, unicode_chance=0.2):
    parts = [sentence(rng) for _ in range(rng.randint(2, 5))]
    if rng.random() < unicode_chance:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(SNIPPETS))
    return " ".join(parts)


def title(rng):
    return f"The {rng.choice(ADJECTIVES)} {rng.choice(WORDS)} of the {rng.choice(WORDS)}".capitalize()


class Content:
    """Renders block markup that references media, posts and blocks by their real ids."""

    def __init__(self, media, docs):
        self.media = media  # uploaded images: REST objects
        self.docs = docs

    @staticmethod
    def size_url(item, size):
        sizes = (item.get("media_details") or {}).get("sizes") or {}
        if size in sizes:
            return sizes[size]["source_url"], size
        return item["source_url"], "full"

    def image_block(self, item, size="large", caption=None):
        url, size = self.size_url(item, size)
        alt = item.get("alt_text", "")
        cap = f'<figcaption class="wp-element-caption">{caption}</figcaption>' if caption else ""
        return (f'<!-- wp:image {{"id":{item["id"]},"sizeSlug":"{size}","linkDestination":"none"}} -->\n'
                f'<figure class="wp-block-image size-{size}"><img src="{url}" alt="{alt}" '
                f'class="wp-image-{item["id"]}"/>{cap}</figure>\n<!-- /wp:image -->')

    def gallery_nested(self, items):
        inner = "\n\n".join(self.image_block(item, "large") for item in items)
        return ('<!-- wp:gallery {"linkTo":"none"} -->\n'
                '<figure class="wp-block-gallery has-nested-images columns-default is-cropped">'
                f'{inner}</figure>\n<!-- /wp:gallery -->')

    def gallery_legacy(self, items):
        ids = ",".join(str(item["id"]) for item in items)
        lis = "".join(
            f'<li class="blocks-gallery-item"><figure><img src="{self.size_url(item, "medium")[0]}" alt="" '
            f'data-id="{item["id"]}" data-full-url="{item["source_url"]}" class="wp-image-{item["id"]}"/>'
            '</figure></li>' for item in items)
        return (f'<!-- wp:gallery {{"ids":[{ids}],"columns":{min(3, len(items))}}} -->\n'
                f'<figure class="wp-block-gallery columns-{min(3, len(items))} is-cropped">'
                f'<ul class="blocks-gallery-grid">{lis}</ul></figure>\n<!-- /wp:gallery -->')

    def classic(self, rng, plan, link_targets):
        """Pre-block (classic editor) HTML: inline <img> with size classes, [gallery] shortcode."""
        out = [f"<p>{paragraph(rng)}</p>"]
        for i in plan["inline"]:
            item = self.media[i]
            url, size = self.size_url(item, "medium")
            out.append(f'<p><img class="alignnone size-{size} wp-image-{item["id"]}" src="{url}" '
                       f'alt="{item.get("alt_text", "")}" /></p>')
        if plan["gallery"]:
            ids = ",".join(str(self.media[i]["id"]) for i in plan["gallery"])
            out.append(f'[gallery ids="{ids}" columns="3" size="thumbnail"]')
        out.extend(f'<p>See also <a href="{t["link"]}">{t["title"]["raw"]}</a>.</p>' for t in link_targets)
        out.append(f"<p>{paragraph(rng)}</p>")
        return "\n\n".join(out)

    def blocks(self, rng, plan, link_targets, block_ids, site_url):
        if plan["classic"]:
            return self.classic(rng, plan, link_targets)
        out = [f"<!-- wp:paragraph -->\n<p>{paragraph(rng, 0.4)}</p>\n<!-- /wp:paragraph -->",
               f"<!-- wp:heading -->\n<h2>{sentence(rng, 4)[:-1]}</h2>\n<!-- /wp:heading -->"]
        for i in plan["inline"]:
            out.append(self.image_block(self.media[i], rng.choice(["large", "medium", "full"]),
                                        caption=sentence(rng, 5) if rng.random() < 0.4 else None))
        for _ in range(rng.randint(1, 4)):
            out.append(f"<!-- wp:paragraph -->\n<p>{paragraph(rng)}</p>\n<!-- /wp:paragraph -->")
        if rng.random() < 0.3:
            items = "".join(f"<li>{sentence(rng, 5)}</li>" for _ in range(rng.randint(2, 5)))
            out.append(f"<!-- wp:list -->\n<ul>{items}</ul>\n<!-- /wp:list -->")
        if rng.random() < 0.15:
            out.append(f'<!-- wp:quote -->\n<blockquote class="wp-block-quote"><p>{sentence(rng)}</p>'
                       f"<cite>{rng.choice(FIRST_NAMES)}</cite></blockquote>\n<!-- /wp:quote -->")
        if plan["gallery"]:
            items = [self.media[i] for i in plan["gallery"]]
            out.append(self.gallery_legacy(items) if plan["legacy_gallery"] else self.gallery_nested(items))
        for t in link_targets:
            href = f"{site_url}/?p={t['id']}" if rng.random() < 0.3 else t["link"]
            out.append(f'<!-- wp:paragraph -->\n<p>Related: <a href="{href}">{t["title"]["raw"]}</a></p>\n'
                       "<!-- /wp:paragraph -->")
        if plan["file_link"] is not None:
            doc = (self.docs + self.media)[plan["file_link"] % (len(self.docs) + len(self.media))]
            out.append(f'<!-- wp:file {{"id":{doc["id"]},"href":"{doc["source_url"]}"}} -->\n'
                       f'<div class="wp-block-file"><a href="{doc["source_url"]}">Download '
                       f'{doc["title"]["raw"]}</a></div>\n<!-- /wp:file -->')
        if plan["reusable"] and block_ids:
            out.append(f'<!-- wp:block {{"ref":{block_ids[plan["reusable"] % len(block_ids)]}}} /-->')
        return "\n\n".join(out)

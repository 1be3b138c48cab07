"""The seeding steps, in order: users, terms, media, reusable blocks, posts, pages,
books, media parents, comments, menus, settings; then the site totals."""

import calendar
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

from .api import BATCH_LIMIT, SeedError
from .content import (ADJECTIVES, CATEGORY_TREE, COLORS, FIRST_NAMES, GENRE_TREE, IMAGE_SIZES, LAST_NAMES,
                      PAGE_NAMES, TITLE_EXTRAS, WORDS, Content, paragraph, sentence, title)
from .files import pdf_bytes, png_bytes


class Seeder:
    def __init__(self, api, args):
        self.api = api
        self.args = args
        self.rng = random.Random(args.seed)
        self.pool = ThreadPoolExecutor(max_workers=args.jobs)
        self.created = {}
        self.stage_seconds = {}
        self.has_books = False
        self.site_url = args.url.rstrip("/")

    def timed(self, stage, fn, *args):
        started = time.monotonic()
        result = fn(*args)
        self.stage_seconds[stage] = round(time.monotonic() - started, 2)
        return result

    def count(self, key, n=1):
        self.created[key] = self.created.get(key, 0) + n

    def parallel(self, fn, items):
        return list(self.pool.map(fn, items))

    # -- users and terms --

    def users(self):
        rng = self.rng
        roles = ["author"] * 4 + ["contributor"] * 2 + ["editor"] + ["subscriber"] * 3
        wanted = []
        for i, role in enumerate(roles):
            first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i * 7) % len(LAST_NAMES)]
            login = f"{first}.{last}".lower()
            wanted.append({
                "username": login, "email": f"{login}@example.{rng.choice(['com', 'org', 'net'])}",
                "password": f"seed-{self.args.seed}-{rng.getrandbits(48):x}",
                "first_name": first, "last_name": last, "name": f"{first} {last}", "nickname": first,
                "url": f"https://{last.lower()}.example.org/", "roles": [role],
                "description": f"{paragraph(rng, 0.5)}",
            })
        existing = {u["username"]: u for u in self.api.list_all("/wp/v2/users", context="edit")}
        missing = [w for w in wanted if w["username"] not in existing]
        for user in self.parallel(lambda body: self.api.post("/wp/v2/users", body), missing):
            existing[user["username"]] = user
            self.count("users")
        by_role = {}
        for u in existing.values():
            for role in u.get("roles", []):
                by_role.setdefault(role, []).append(u["id"])
        return by_role

    def term_tree(self, route, tree, count_key):
        existing = {(t["name"], t["parent"]): t["id"] for t in self.api.list_all(route, context="edit", hide_empty="false")}
        ids = []
        level = [(name, children, 0) for name, children in tree]
        while level:
            todo = [(route, {"name": name, "parent": parent, "description": f"{name}: {sentence(self.rng, 8)}"})
                    for name, _, parent in level if (name.replace("&", "&amp;"), parent) not in existing]
            for term in self.api.batch(todo):
                existing[(term["name"], term["parent"])] = term["id"]
                self.count(count_key)
            next_level = []
            for name, children, parent in level:
                tid = existing[(name.replace("&", "&amp;"), parent)]
                ids.append(tid)
                next_level.extend((child, grandchildren, tid) for child, grandchildren in children)
            level = next_level
        return ids

    def tags(self, n):
        names = sorted(f"{word} {suffix}".strip() for suffix in ("", "tips", "news", "2024") for word in WORDS)[:n]
        existing = {t["name"]: t["id"] for t in self.api.list_all("/wp/v2/tags", hide_empty="false")}
        todo = [("/wp/v2/tags", {"name": name}) for name in names if name not in existing]
        for tag in self.api.batch(todo):
            existing[tag["name"]] = tag["id"]
            self.count("tags")
        return [existing[name] for name in names]

    # -- media --

    def images(self, n):
        rng = self.rng
        specs = []
        for i in range(n):
            if i == 0 and n >= 8:
                # Above the 2560 px big-image threshold: WordPress makes a 2048 px size but
                # never a -scaled copy of a PNG (it would for a JPEG).
                size = (2600, 1700)
            elif i == 1 and n >= 8:
                size = (512, 512)  # square, used as site icon
            else:
                size = rng.choice(IMAGE_SIZES)
            style = "noise" if size[0] * size[1] <= 300 * 300 else rng.choice(
                ["vgradient", "hgradient", "checker", "stripes", "stripes"])
            c1, c2 = rng.sample(COLORS, 2)
            word = rng.choice(WORDS)
            name = f"{word}-{i + 1:03d}.png"
            if i % 17 == 5:
                name = f"Straße {word} Übersicht {i + 1}.png"  # spaces and UTF-8 in the file name
            specs.append({
                "name": name, "size": size, "style": style, "colors": (c1, c2), "seed": rng.getrandbits(32),
                "title": f"{word.capitalize()} {rng.choice(ADJECTIVES)} {i + 1}",
                "alt": f"{style} pattern in two colours ({size[0]}x{size[1]})",
                "caption": sentence(rng, 6) if rng.random() < 0.5 else "",
                "description": paragraph(rng) if rng.random() < 0.3 else "",
            })

        def upload(spec):
            data = png_bytes(*spec["size"], spec["style"], *spec["colors"], random.Random(spec["seed"]))
            return self.upload(spec["name"], "image/png", data, spec)

        media = self.parallel(upload, specs)
        self.count("media_images", len(media))
        return media

    def documents(self, n):
        docs = []
        for i in range(n):
            name = f"report-{i + 1:02d}.pdf"
            data = pdf_bytes(f"Understudy seed report {i + 1}", [sentence(self.rng, 8) for _ in range(5)])
            docs.append(self.upload(name, "application/pdf", data, {"title": f"Report {i + 1}", "alt": "",
                                                                     "caption": "", "description": ""}))
        self.count("media_documents", len(docs))
        return docs

    def upload(self, name, mime, data, spec):
        params = {"title": spec["title"], "alt_text": spec["alt"], "caption": spec["caption"],
                  "description": spec["description"]}
        disposition = f'attachment; filename="{name}"'.encode("utf-8")
        return self.api.call("POST", "/wp/v2/media", params={k: v for k, v in params.items() if v},
                             raw=data, headers={"Content-Type": mime, "Content-Disposition": disposition})[0]

    # -- posts, pages, books --

    def post_plans(self, n, n_media, authors):
        rng = self.rng
        start, span = 1546300800, 6 * 365 * 86400  # 2019-01-01 .. end of 2024
        dates = sorted(start + rng.randrange(span) for _ in range(n))
        plans, seen_titles = [], set()
        for i in range(n):
            r = rng.random()
            status = ("publish" if r < 0.76 else "draft" if r < 0.84 else "pending" if r < 0.88
                      else "private" if r < 0.93 else "future")
            author_pool = authors["contributor"] if status in ("draft", "pending") and rng.random() < 0.4 else authors["writers"]
            plan = {
                "status": status,
                "date": (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(dates[i])) if status != "future"
                         else f"2099-{1 + i % 12:02d}-{1 + i % 28:02d}T09:30:00"),
                "floating": status == "draft" and rng.random() < 0.5,  # drafts without a date
                "author": rng.choice(author_pool),
                "title": rng.choice(TITLE_EXTRAS) if rng.random() < 0.05 else title(rng),
                "password": "letmein" if status == "publish" and rng.random() < 0.02 else "",
                "sticky": status == "publish" and rng.random() < 0.01,
                "format": rng.choice(["aside", "gallery", "quote", "link"]) if rng.random() < 0.06 else "standard",
                "excerpt": sentence(rng) if rng.random() < 0.3 else None,
                "comment_status": "closed" if rng.random() < 0.08 else "open",
                "n_categories": rng.randint(1, 3), "n_tags": rng.choice([0, 1, 2, 3, 5]),
                "classic": rng.random() < 0.1,
                "featured": rng.randrange(n_media) if n_media and rng.random() < 0.6 else None,
                "inline": [rng.randrange(n_media) for _ in range(rng.choice([0, 0, 1, 1, 2]))] if n_media else [],
                "gallery": rng.sample(range(n_media), min(n_media, rng.randint(3, 6)))
                if n_media and rng.random() < 0.18 else [],
                "legacy_gallery": rng.random() < 0.35,
                "links": rng.choice([0, 0, 1, 2]),
                "file_link": rng.randrange(1000) if rng.random() < 0.1 else None,
                "reusable": rng.randrange(1, 1000) if rng.random() < 0.05 else 0,
                "meta_ref": f"legacy-{rng.getrandbits(32):08x}" if rng.random() < 0.2 else None,
                "cat_seed": rng.getrandbits(32), "body_seed": rng.getrandbits(32),
            }
            # Unique titles: parallel batches would race for the same slug otherwise.
            while plan["title"] in seen_titles:
                plan["title"] += " (continued)"
            seen_titles.add(plan["title"])
            plans.append(plan)
        return plans

    def post_body(self, plan, content, categories, tags, earlier, block_ids, kind="post"):
        rng = random.Random(plan["body_seed"])
        links = rng.sample(earlier, min(len(earlier), plan["links"])) if plan["links"] else []
        body = {
            "title": plan["title"], "status": plan["status"], "author": plan["author"],
            "content": content.blocks(rng, plan, links, block_ids, self.site_url),
            "comment_status": plan["comment_status"],
        }
        if not plan["floating"]:
            body["date"] = plan["date"]
        if plan["excerpt"]:
            body["excerpt"] = plan["excerpt"]
        if plan["featured"] is not None:
            body["featured_media"] = content.media[plan["featured"]]["id"]
        if plan["password"]:
            body["password"] = plan["password"]
        if kind == "post":
            crng = random.Random(plan["cat_seed"])
            body["categories"] = crng.sample(categories, min(len(categories), plan["n_categories"]))
            body["tags"] = crng.sample(tags, min(len(tags), plan["n_tags"]))
            body["format"] = plan["format"]
            body["sticky"] = plan["sticky"]
            if plan["meta_ref"]:
                body["meta"] = {"understudy_source_ref": plan["meta_ref"]}
        return body

    def create_in_rounds(self, route, bodies_for_round, n, round_size=100):
        """Creates n objects in rounds; a round's batches run in parallel and may refer to
        objects of earlier rounds (links)."""
        made = []
        for start in range(0, n, round_size):
            bodies = bodies_for_round(start, min(n, start + round_size), list(made))
            chunks = [[(route, b) for b in bodies[i:i + BATCH_LIMIT]] for i in range(0, len(bodies), BATCH_LIMIT)]
            for result in self.parallel(self.api.batch, chunks):
                made.extend(result)
        return made

    def posts(self, n, content, categories, tags, authors, block_ids):
        plans = self.post_plans(n, len(content.media), authors)

        def bodies(lo, hi, earlier):
            visible = [p for p in earlier if p["status"] == "publish" and not p["password"]]
            return [self.post_body(plans[i], content, categories, tags, visible, block_ids) for i in range(lo, hi)]

        made = self.create_in_rounds("/wp/v2/posts", bodies, n)
        for post in made:
            self.count(f"posts_{post['status']}")
            if post.get("password"):
                self.count("posts_password_protected")
        return made

    def pages(self, n, content, authors):
        rng = self.rng
        if n <= 0:
            return []
        names = ["Home", "Blog"] + [PAGE_NAMES[i % len(PAGE_NAMES)] + ("" if i < len(PAGE_NAMES) else f" {i // len(PAGE_NAMES) + 1}")
                                    for i in range(max(0, n - 2))]
        names = names[:n]
        top = max(2, n // 3)
        middle = top + (n - top + 1) // 2
        level_of = [0 if i < top else 1 if i < middle else 2 for i in range(n)]
        made, by_level = [], {0: [], 1: [], 2: []}
        for level in (0, 1, 2):
            bodies = []
            for i, name in enumerate(names):
                if level_of[i] != level:
                    continue
                r = rng.random()
                plan = {"status": "publish" if r < 0.85 or i < 2 else "draft" if r < 0.93 else "private",
                        "date": f"2020-{1 + i % 12:02d}-{1 + i % 27:02d}T10:00:00", "floating": False,
                        "author": rng.choice(authors["editors"]), "title": name, "password": "",
                        "excerpt": None, "comment_status": "closed" if rng.random() < 0.8 else "open",
                        "classic": False, "featured": rng.randrange(len(content.media)) if content.media and rng.random() < 0.3 else None,
                        "inline": [rng.randrange(len(content.media))] if content.media and rng.random() < 0.4 else [],
                        "gallery": [], "legacy_gallery": False, "links": 0, "file_link": None, "reusable": 0,
                        "body_seed": rng.getrandbits(32)}
                body = self.post_body(plan, content, [], [], [], [], kind="page")
                body["menu_order"] = i
                if level > 0:
                    body["parent"] = rng.choice(by_level[level - 1] or by_level[0])
                bodies.append(("/wp/v2/pages", body))
            for page in self.api.batch(bodies):
                made.append(page)
                by_level[level].append(page["id"])
                self.count(f"pages_{page['status']}")
        return made

    def books(self, n, content, genres, authors):
        rng = self.rng
        bodies = []
        for i in range(n):
            body = {
                "title": f"{title(rng)} (a novel)" if i % 3 else rng.choice(TITLE_EXTRAS),
                "status": "publish" if rng.random() < 0.85 else "draft",
                "author": rng.choice(authors["writers"]),
                "content": f"<!-- wp:paragraph -->\n<p>{paragraph(rng, 0.5)}</p>\n<!-- /wp:paragraph -->",
                "excerpt": sentence(rng),
                "genres": rng.sample(genres, min(len(genres), rng.randint(1, 2))),
                "meta": {"isbn": f"978-3-{rng.randrange(10**5):05d}-{rng.randrange(10**3):03d}-{rng.randrange(10)}",
                         "page_count": rng.randint(90, 900)},
                "date": f"{2015 + i % 10}-{1 + i % 12:02d}-15T12:00:00",
            }
            if content.media and rng.random() < 0.7:
                body["featured_media"] = content.media[rng.randrange(len(content.media))]["id"]
            bodies.append(("/wp/v2/books", body))
        made = self.api.batch(bodies)
        self.count("books", len(made))
        return made

    def attach_media(self, media, posts):
        """Sets each image's parent to the first post that uses it, as the editor does."""
        parent = {}
        for post in posts:
            for mid in [post.get("featured_media")] + [int(x) for x in
                                                       wp_image_ids(post["content"]["raw"])]:
                if mid and mid not in parent:
                    parent[mid] = post["id"]
        todo = [(m["id"], parent[m["id"]]) for m in media if m["id"] in parent and not m.get("post")]
        self.parallel(lambda pair: self.api.post(f"/wp/v2/media/{pair[0]}", {"post": pair[1]}), todo)
        self.count("media_attached", len(todo))

    # -- comments --

    def comments(self, targets, users):
        rng = self.rng
        registered = users
        plans = []  # (index, parent index or None, body without post/parent ids)
        for target in targets:
            for _ in range(rng.choice([0, 0, 1, 1, 2, 2, 3, 4])):
                self.comment_thread(rng, target, None, 0, plans, registered)
        ids = {}
        depth = 0
        while True:
            level = [p for p in plans if p["depth"] == depth]
            if not level:
                break

            def create(plan):
                body = dict(plan["body"], post=plan["post"])
                if plan["parent"] is not None:
                    body["parent"] = ids[plan["parent"]]
                return plan["key"], self.api.post("/wp/v2/comments", body)

            for key, comment in self.parallel(create, level):
                ids[key] = comment["id"]
                self.count(f"comments_{comment['status']}")
                if plans[key]["parent"] is not None:
                    self.count("comments_replies")
            depth += 1

    def comment_thread(self, rng, target, parent_key, depth, plans, users):
        key = len(plans)
        start = max(calendar.timegm(time.strptime(target["date"][:19], "%Y-%m-%dT%H:%M:%S")), 1546300800)
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + rng.randrange(1, 90 * 86400)))
        r = rng.random()
        status = "approved" if r < 0.86 else "hold" if r < 0.93 else "spam" if r < 0.98 else "trash"
        body = {"content": f"{paragraph(rng, 0.3)} (#{key})", "date": when, "status": status}
        if users and rng.random() < 0.3:
            body["author"] = rng.choice(users)
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            body.update({
                "author_name": f"{first} {last}",
                "author_email": f"{first}.{last}.{rng.randrange(100)}@example.net".lower(),
                "author_ip": f"203.0.113.{rng.randrange(1, 255)}" if rng.random() < 0.7 else f"2001:db8::{rng.randrange(1, 9999):x}",
                "author_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0",
            })
            if rng.random() < 0.3:
                body["author_url"] = f"https://{last.lower()}.example.com/"
        plans.append({"key": key, "post": target["id"], "parent": parent_key, "depth": depth, "body": body})
        if depth < 3 and rng.random() < (0.35 if depth == 0 else 0.2):
            for _ in range(rng.randint(1, 2)):
                self.comment_thread(rng, target, key, depth + 1, plans, users)

    # -- menus, blocks, settings --

    def reusable_blocks(self):
        made = []
        for name in ("Newsletter call to action", "Author disclaimer"):
            body = {"title": name, "status": "publish",
                    "content": f"<!-- wp:paragraph -->\n<p><strong>{name}:</strong> {sentence(self.rng)}</p>\n<!-- /wp:paragraph -->"}
            made.append(self.api.post("/wp/v2/blocks", body))
        self.count("reusable_blocks", len(made))
        return [b["id"] for b in made]

    def menus(self, pages, categories, posts):
        locations = list(self.api.get("/wp/v2/menu-locations").keys())
        existing = {m["name"]: m["id"] for m in self.api.list_all("/wp/v2/menus")}
        published_pages = [p for p in pages if p["status"] == "publish"]
        top_pages = [p for p in published_pages if not p["parent"]][:4]
        specs = [("Main menu", locations[:1]), ("Footer menu", locations[1:2])]
        for name, locs in specs:
            if name in existing:
                continue
            menu = self.api.post("/wp/v2/menus", {"name": name, "locations": locs, "description": f"{name} (seed)"})
            self.count("menus")
            mid = menu["id"]

            def item(body, parent=0):
                self.count("menu_items")
                return self.api.post("/wp/v2/menu-items", dict(body, menus=mid, parent=parent, status="publish"))["id"]

            order = iter(range(1, 1000))
            if name == "Main menu":
                item({"title": "Home", "type": "custom", "url": self.site_url + "/", "menu_order": next(order)})
                for page in top_pages:
                    pid = item({"type": "post_type", "object": "page", "object_id": page["id"], "menu_order": next(order)})
                    for child in [p for p in published_pages if p["parent"] == page["id"]][:3]:
                        cid = item({"type": "post_type", "object": "page", "object_id": child["id"],
                                    "menu_order": next(order)}, pid)
                        for grandchild in [p for p in published_pages if p["parent"] == child["id"]][:2]:
                            item({"type": "post_type", "object": "page", "object_id": grandchild["id"],
                                  "menu_order": next(order)}, cid)
                topics = item({"title": "Topics", "type": "custom", "url": "#", "menu_order": next(order)})
                for cid in categories[:4]:
                    item({"type": "taxonomy", "object": "category", "object_id": cid, "menu_order": next(order)}, topics)
                item({"title": "Books", "type": "custom", "url": self.site_url + "/books/", "menu_order": next(order)})
            else:
                for post in [p for p in posts if p["status"] == "publish" and not p["password"]][:2]:
                    item({"type": "post_type", "object": "post", "object_id": post["id"], "menu_order": next(order)})
                item({"title": "Source code", "type": "custom", "url": "https://example.com/understudy",
                      "target": "_blank", "attr_title": "External link", "menu_order": next(order)})
        # The block-theme equivalent: a wp_navigation post.
        links = "".join(
            f'<!-- wp:navigation-link {{"label":"{p["title"]["raw"]}","type":"page","id":{p["id"]},'
            f'"url":"{p["link"]}","kind":"post-type"}} /-->' for p in top_pages)
        self.api.post("/wp/v2/navigation", {"title": "Header navigation", "status": "publish", "content": links})
        self.count("navigation_menus")

    def settings(self, pages, media, categories):
        body = {"posts_per_page": 12}
        home = next((p for p in pages if p["title"]["raw"] == "Home" and p["status"] == "publish"), None)
        blog = next((p for p in pages if p["title"]["raw"] == "Blog" and p["status"] == "publish"), None)
        if home and blog:
            body.update(show_on_front="page", page_on_front=home["id"], page_for_posts=blog["id"])
        if len(media) >= 2:
            body.update(site_logo=media[0]["id"], site_icon=media[1]["id"])
        if categories:
            body["default_category"] = categories[0]
        self.api.post("/wp/v2/settings", body)

    def site_totals(self):
        routes = {"posts": ("/wp/v2/posts", {"status": "any"}), "pages": ("/wp/v2/pages", {"status": "any"}),
                  "media": ("/wp/v2/media", {}), "comments": ("/wp/v2/comments", {"status": "all"}),
                  "categories": ("/wp/v2/categories", {}), "tags": ("/wp/v2/tags", {}),
                  "users": ("/wp/v2/users", {}), "menus": ("/wp/v2/menus", {}),
                  "menu_items": ("/wp/v2/menu-items", {}), "blocks": ("/wp/v2/blocks", {}),
                  "navigation": ("/wp/v2/navigation", {})}
        if self.has_books:
            routes.update(books=("/wp/v2/books", {"status": "any"}), genres=("/wp/v2/genres", {}))
        return {name: self.api.total(route, **params) for name, (route, params) in routes.items()}

    # -- the whole run --

    def whoami(self):
        """The authenticated user's id. WordPress 6.1 answers bad credentials on public
        routes as if anonymous (200), so check them here, where they give 401."""
        try:
            me = self.api.get("/wp/v2/users/me", context="edit")
        except SeedError as exc:
            if "HTTP 401" in str(exc):
                raise SeedError(f"{self.args.url} does not accept user {self.args.user!r} with that "
                                "Application Password (401 rest_not_logged_in)") from None
            raise
        needed = ("create_users", "edit_theme_options", "manage_options", "upload_files", "moderate_comments")
        missing = [cap for cap in needed if not me.get("capabilities", {}).get(cap)]
        if missing:
            raise SeedError(f"user {self.args.user!r} (roles {', '.join(me.get('roles', []))}) lacks "
                            f"{', '.join(missing)}; seed as an administrator")
        return me["id"]

    def run(self):
        args, started = self.args, time.monotonic()
        me = self.whoami()
        marker = f"understudy-seed-{args.seed}"
        found = self.api.get("/wp/v2/tags", slug=marker, context="edit")
        if found and not args.force:
            summary = json.loads(found[0]["description"] or "{}")
            summary["already_seeded"] = True
            return summary
        types = self.api.get("/wp/v2/types")
        self.has_books = "book" in types

        by_role = self.timed("users", self.users)
        authors = {"writers": by_role.get("author", []) + by_role.get("editor", []) + [me],
                   "contributor": by_role.get("contributor", []) or [me],
                   "editors": by_role.get("editor", []) + [me]}
        categories = self.timed("categories", self.term_tree, "/wp/v2/categories", CATEGORY_TREE, "categories")
        tags = self.timed("tags", self.tags, max(10, min(60, args.posts // 6)))
        genres = self.term_tree("/wp/v2/genres", GENRE_TREE, "genres") if self.has_books else []
        media = self.timed("images", self.images, args.images)
        docs = self.timed("documents", self.documents, 2 if args.images else 0)
        block_ids = self.reusable_blocks()
        content = Content(media, docs)
        posts = self.timed("posts", self.posts, args.posts, content, categories, tags, authors, block_ids)
        pages = self.timed("pages", self.pages, args.pages, content, authors)
        books = self.timed("books", self.books, max(3, args.posts // 15), content, genres, authors) if self.has_books and args.posts else []
        self.timed("attach_media", self.attach_media, media, posts + pages + books)
        commentable = [p for p in posts + books if p["status"] == "publish" and p["comment_status"] == "open"
                       and not p.get("password")] + [p for p in pages if p["status"] == "publish" and p["comment_status"] == "open"]
        self.timed("comments", self.comments, commentable, by_role.get("subscriber", []) + by_role.get("author", []))
        self.timed("menus", self.menus, pages, categories, posts)
        self.settings(pages, media, categories)

        summary = {"seed": args.seed, "url": self.site_url, "already_seeded": False,
                   "created": dict(sorted(self.created.items())), "site_totals": self.site_totals(),
                   "requests": self.api.requests + 1, "seconds": round(time.monotonic() - started, 1),
                   "stage_seconds": self.stage_seconds}
        tag = {"name": marker, "slug": marker, "description": json.dumps(summary)}
        if found:
            self.api.post(f"/wp/v2/tags/{found[0]['id']}", tag)
        else:
            self.api.post("/wp/v2/tags", tag)
        return summary


def wp_image_ids(html):
    """The N of every `wp-image-N` class in some HTML, as strings."""
    out, pos = [], 0
    while True:
        pos = html.find("wp-image-", pos)
        if pos < 0:
            return out
        pos += len("wp-image-")
        end = pos
        while end < len(html) and html[end].isdigit():
            end += 1
        if end > pos:
            out.append(html[pos:end])

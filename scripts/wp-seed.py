#!/usr/bin/env python3
"""Fill a WordPress site with realistic, deterministic content through its REST API.

Uses only the REST API (HTTP Basic with an Application Password of an administrator),
so it seeds any WordPress >= 6.1, not just the local one. Python standard library only.

What it creates (counts scale with --posts/--pages/--images):
  users of several roles (author, contributor, editor, subscriber) with personal data;
  nested categories, tags, and terms of the custom taxonomy `genre`;
  PNG images generated here (varied sizes and colours, one above WordPress's 2560 px
  big-image threshold) and a few PDF documents;
  posts in every status (publish, draft, pending, private, future, password-protected),
  with block content that references media by `wp-image-N` classes, image and gallery
  blocks (5.9+ nested and legacy "ids"), a classic [gallery] shortcode, plain upload
  URLs, links between posts, reusable blocks, featured images and registered meta;
  pages in a three-level hierarchy; `book` posts (the custom post type registered by
  the understudy-seed-cpt.php must-use plugin, skipped when absent);
  threaded comments from guests and users in every status (approved, hold, spam, trash);
  classic menus in the theme's locations with nested items, a block navigation menu;
  a static front page, posts page, site logo and icon.

Deterministic for a given --seed: the same content, statuses, dates, links and counts.
Ids are the same on every fresh site only with --jobs 1 (parallel uploads and batches
interleave otherwise); upload paths follow the current month (uploads/YYYY/MM).

Idempotent: at the end it creates the tag `understudy-seed-<seed>` whose description is
the JSON summary; when that tag exists the script prints the stored summary and exits,
unless --force (then it adds another full set of content, reusing users, terms, menus).

Code: scripts/wp_seed/ (api.py: REST client, files.py: PNG/PDF, content.py: words and
markup, seeder.py: the steps).

usage: wp-seed.py [--url URL] [--user USER] [--app-password-file FILE]
                  [--posts N] [--pages N] [--images N] [--seed S] [--jobs J] [--force]
"""

import argparse
import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the repository's scripts/
from wp_seed.api import Api, SeedError
from wp_seed.seeder import Seeder


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8081")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--app-password-file", default="/var/lib/understudy-dev/wordpress/app-password")
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=4, help="parallel HTTP connections (default 4); with 1, a fresh site "
                        "gets the same ids on every run")
    parser.add_argument("--force", action="store_true", help="seed again even if this seed's marker tag exists")
    args = parser.parse_args()
    if min(args.posts, args.pages, args.images) < 0 or args.jobs < 1:
        parser.error("counts must be >= 0 and --jobs >= 1")
    try:
        with open(args.app_password_file, encoding="utf-8") as f:
            password = f.read().strip()
    except OSError as exc:
        print(f"wp-seed: error: cannot read the Application Password: {exc}; "
              "run scripts/services/wordpress.sh up or pass --app-password-file", file=sys.stderr)
        return 1
    try:
        api = Api(args.url, args.user, password)
        seeder = Seeder(api, args)
        try:
            summary = seeder.run()
        finally:
            seeder.pool.shutdown(wait=True, cancel_futures=True)
    except SeedError as exc:
        print(f"wp-seed: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Seeding a WordPress site through its REST API; scripts/wp-seed.py is the command."""

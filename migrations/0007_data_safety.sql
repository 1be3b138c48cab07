-- Data safety (issue #12): who a site is, what a staging copy was made from, and which backups
-- belong to which registration of a site.
--
-- * `sites.id` names one registration: a site removed and added again under the same name is
--   another registration, and the first one's backups never load into the second's production.
-- * `*_identity`: what the servers said the databases are (PostgreSQL `system_identifier`,
--   MariaDB/MySQL `@@hostname:@@port:@@datadir`, plus the database name), so that two
--   spellings of one server (localhost / 127.0.0.1) are one database. NULL until a check could
--   reach the server (`site add` when it cannot, sites registered before this migration).
-- * `staging_environments.anonymized`: the copy carries fake personal data; promote refuses the
--   tables the anonymizer changed.
-- * `backups`: every backup a promote or restore took of production, with the tables it holds
--   (exactly the rows the operation overwrote, captured in the same transaction or RENAME that
--   replaced them) and the identity of the database it came from.

ALTER TABLE sites
    ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN db_identity text,
    ADD COLUMN staging_db_identity text,
    ADD CONSTRAINT sites_id_unique UNIQUE (id),
    ADD CONSTRAINT sites_identities_differ CHECK (db_identity IS NULL OR db_identity <> staging_db_identity);

ALTER TABLE staging_environments
    ADD COLUMN anonymized boolean NOT NULL DEFAULT false;

CREATE TYPE backup_kind AS ENUM ('promote', 'pre-restore');

CREATE TABLE backups (
    id                  uuid PRIMARY KEY,
    -- No foreign key: a backup outlives its site's row (kept under the removed registration).
    site                text NOT NULL,
    site_id             uuid NOT NULL,
    kind                backup_kind NOT NULL,
    db_engine           db_engine NOT NULL,
    path                text NOT NULL UNIQUE CHECK (path LIKE '/%'),
    production_identity text NOT NULL,
    production_display  text NOT NULL,
    tables              text[] NOT NULL CHECK (cardinality(tables) > 0),
    -- PostgreSQL: the schema the dump's tables are in (the swap's park), loaded back as public.
    source_schema       text,
    bytes               bigint NOT NULL CHECK (bytes >= 0),
    -- SHA-256 of the file as written: a restore loads only this exact file.
    sha256              text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    job_id              uuid NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- Set when the site was removed with its backups kept.
    site_removed_at     timestamptz
);

CREATE INDEX backups_site ON backups (site_id, created_at DESC);

-- A database Understudy is about to create, written before the CREATE and removed once the new
-- database carries its ownership mark: a crash between the two leaves an unmarked database that
-- is still known to be this job's (and nobody else's: the name was absent when this was written).
CREATE TABLE creation_intents (
    target     text NOT NULL,
    site       text NOT NULL,
    job_id     uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target)
);

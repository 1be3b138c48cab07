-- The clone workflows' site registry: production sites and their staging environments.
-- Connection URLs contain passwords: they are stored sealed (AES-256-GCM, see
-- workflows/src/secrets.rs); only the host/database part is kept in clear for display.

CREATE TYPE db_engine AS ENUM ('postgres', 'mysql');

CREATE TABLE sites (
    name                text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    production_url      text NOT NULL CHECK (production_url ~ '^https?://[^/\s]+'),
    db_engine           db_engine NOT NULL,
    db_url_sealed       bytea NOT NULL,
    db_display          text NOT NULL,
    table_prefix        text NOT NULL DEFAULT 'wp_' CHECK (table_prefix ~ '^[A-Za-z0-9_]{1,32}$'),
    uploads_dir         text NOT NULL CHECK (uploads_dir LIKE '/%'),
    staging_url         text NOT NULL CHECK (staging_url ~ '^https?://[^/\s]+'),
    staging_db_url_sealed bytea NOT NULL,
    staging_db_display  text NOT NULL,
    staging_uploads_dir text NOT NULL CHECK (staging_uploads_dir LIKE '/%'),
    tags                text[] NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sites_staging_is_not_production CHECK (
        staging_uploads_dir <> uploads_dir AND staging_db_display <> db_display
    )
);

CREATE TYPE environment_state AS ENUM ('ready', 'failed');

-- A staging environment that exists (created by a clone job, removed by destroy).
CREATE TABLE staging_environments (
    site         text PRIMARY KEY REFERENCES sites (name) ON DELETE CASCADE,
    url          text NOT NULL,
    db_display   text NOT NULL,
    uploads_dir  text NOT NULL,
    state        environment_state NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    last_job     uuid NOT NULL,
    last_report  jsonb NOT NULL DEFAULT '{}'
);

-- Sandboxes made by the provision workflow: disposable WordPress containers on a Docker
-- engine. Passwords (database, admin, Application Password) are stored sealed (AES-256-GCM,
-- workflows/src/secrets.rs), never in clear.

CREATE TYPE sandbox_state AS ENUM ('provisioning', 'ready', 'failed', 'destroyed');

CREATE TABLE sandboxes (
    id                    text PRIMARY KEY CHECK (id ~ '^sb-[a-z0-9]{6,32}$'),
    job_id                uuid NOT NULL UNIQUE,
    owner                 text NOT NULL,
    site                  text NOT NULL,
    source_url            text,
    state                 sandbox_state NOT NULL DEFAULT 'provisioning',
    url                   text,
    host_port             integer CHECK (host_port BETWEEN 1 AND 65535),
    admin_user            text NOT NULL,
    admin_password_sealed bytea NOT NULL,
    db_password_sealed    bytea NOT NULL,
    app_password_sealed   bytea,
    wordpress_image       text NOT NULL,
    mariadb_image         text NOT NULL,
    containers            jsonb NOT NULL DEFAULT '{}',
    report                jsonb NOT NULL DEFAULT '{}',
    created_at            timestamptz NOT NULL DEFAULT now(),
    ready_at              timestamptz,
    expires_at            timestamptz NOT NULL,
    ended_at              timestamptz,
    end_reason            text,
    -- Finished (failed or destroyed) iff ended_at is set, with a reason.
    CONSTRAINT sandboxes_ended CHECK (
        (state IN ('failed', 'destroyed')) = (ended_at IS NOT NULL)
        AND (ended_at IS NULL) = (end_reason IS NULL)
    ),
    CONSTRAINT sandboxes_ready_has_url CHECK (
        state <> 'ready' OR (url IS NOT NULL AND ready_at IS NOT NULL AND app_password_sealed IS NOT NULL)
    )
);

-- Two live sandboxes never share a host port.
CREATE UNIQUE INDEX sandboxes_live_port ON sandboxes (host_port) WHERE ended_at IS NULL;
CREATE INDEX sandboxes_live_expiry ON sandboxes (expires_at) WHERE ended_at IS NULL;

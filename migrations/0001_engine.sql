-- The durable engine's tables. PostgreSQL is the source of truth for jobs; RabbitMQ only carries
-- the work to the workers. States are enums; invariants are CHECK constraints.

CREATE TYPE job_state AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');

-- Declaration order is claim order: interactive jobs are claimed ahead of bulk ones.
CREATE TYPE job_priority AS ENUM ('interactive', 'bulk');

CREATE TABLE jobs (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_-]{0,63}$'),
    spec                jsonb NOT NULL,
    state               job_state NOT NULL DEFAULT 'queued',
    priority            job_priority NOT NULL,
    idempotency_key     text UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    concurrency_key     text CHECK (length(concurrency_key) BETWEEN 1 AND 200),
    -- Claims so far (1 on the first run). Attempts are recorded in job_attempts.
    attempt             integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    -- Times a worker died or lost the lease while running this job; bounded by the worker config.
    lease_losses        integer NOT NULL DEFAULT 0 CHECK (lease_losses >= 0),
    lease_owner         text,
    lease_token         uuid,
    lease_expires_at    timestamptz,
    run_at              timestamptz NOT NULL DEFAULT now(),
    cancel_requested_at timestamptz,
    progress_percent    real CHECK (progress_percent BETWEEN 0 AND 100),
    progress_message    text,
    result              jsonb,
    error               text,
    traceparent         text,
    tracestate          text,
    enqueued_at         timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    -- A running job has exactly one lease (owner, token, expiry together); no other state has one.
    CONSTRAINT jobs_lease_iff_running CHECK ((state = 'running') = (lease_token IS NOT NULL)),
    CONSTRAINT jobs_lease_complete CHECK (
        (lease_token IS NULL) = (lease_owner IS NULL) AND (lease_token IS NULL) = (lease_expires_at IS NULL)
    ),
    -- finished_at is set iff the job is terminal.
    CONSTRAINT jobs_finished_iff_terminal CHECK (
        (state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)
    ),
    CONSTRAINT jobs_succeeded_has_result CHECK (state <> 'succeeded' OR result IS NOT NULL),
    CONSTRAINT jobs_failed_has_error CHECK (state <> 'failed' OR error IS NOT NULL),
    CONSTRAINT jobs_started_after_attempt CHECK ((attempt = 0) = (started_at IS NULL))
);

CREATE INDEX jobs_claimable ON jobs (priority, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_by_state ON jobs (state, created_at);
CREATE INDEX jobs_by_kind ON jobs (kind, created_at);

-- A concurrency key (e.g. a site) is held by at most one job at a time, from its claim until it
-- is terminal. A job handed back to the queue (lease lost, shutdown) keeps its slot.
CREATE TABLE concurrency_slots (
    key     text PRIMARY KEY,
    job_id  uuid NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
    held_at timestamptz NOT NULL DEFAULT now()
);

CREATE TYPE step_state AS ENUM ('completed', 'compensated');

-- Named step checkpoints. A step's output is committed here before the next step starts.
CREATE TABLE job_steps (
    job_id         uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    state          step_state NOT NULL,
    output         jsonb NOT NULL,
    attempt        integer NOT NULL CHECK (attempt >= 1),
    completed_at   timestamptz NOT NULL,
    compensated_at timestamptz,
    PRIMARY KEY (job_id, name),
    CONSTRAINT job_steps_compensated_iff_time CHECK ((state = 'compensated') = (compensated_at IS NOT NULL))
);

CREATE TYPE attempt_outcome AS ENUM (
    'running',      -- still going
    'succeeded',
    'failed',
    'cancelled',
    'interrupted',  -- the worker shut down gracefully and handed the job back
    'abandoned'     -- the lease expired (worker died or was cut off); another attempt followed
);

CREATE TABLE job_attempts (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    worker_id   text NOT NULL,
    lease_token uuid NOT NULL UNIQUE,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     attempt_outcome NOT NULL DEFAULT 'running',
    error       text,
    PRIMARY KEY (job_id, attempt),
    CONSTRAINT job_attempts_finished_iff_done CHECK ((outcome = 'running') = (finished_at IS NULL))
);

CREATE TYPE job_event_type AS ENUM (
    'queued', 'started', 'step_completed', 'step_retrying', 'compensating', 'step_compensated',
    'succeeded', 'failed', 'cancel_requested', 'cancelled', 'interrupted', 'lease_expired',
    'retried'
);

-- The job's history, for `understudy logs` and post-mortems. Progress ticks are not stored here
-- (the latest is on the job row); they go out on the events exchange.
CREATE TABLE job_events (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL DEFAULT now(),
    type    job_event_type NOT NULL,
    attempt integer,
    step    text,
    message text
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);

-- Messages that could not become jobs: malformed, unknown kind, invalid spec, or dead-lettered
-- by RabbitMQ after too many deliveries. Kept whole so `understudy dlq replay` can re-publish.
CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    routing_key  text NOT NULL,
    reason       text NOT NULL,
    message_id   text,
    headers      jsonb NOT NULL DEFAULT '{}',
    body         bytea NOT NULL,
    body_size    integer NOT NULL CHECK (body_size >= 0),
    replayed_at  timestamptz,
    replay_count integer NOT NULL DEFAULT 0 CHECK (replay_count >= 0)
);

-- Worker processes, for operators (`understudy top`) and lease renewal.
CREATE TABLE workers (
    id           text PRIMARY KEY,
    hostname     text NOT NULL,
    pid          integer NOT NULL,
    concurrency  integer NOT NULL CHECK (concurrency >= 1),
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);

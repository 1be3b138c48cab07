-- Generated HTTP basic-auth credentials of a staging environment (`staging create --basic-auth`):
-- the login in clear, the password sealed (AES-256-GCM, like the database URLs); revealed only by
-- `understudy staging credentials SITE`.

ALTER TABLE staging_environments
    ADD COLUMN basic_auth_user text,
    ADD COLUMN basic_auth_sealed bytea,
    ADD CONSTRAINT staging_basic_auth_complete
        CHECK ((basic_auth_user IS NULL) = (basic_auth_sealed IS NULL));

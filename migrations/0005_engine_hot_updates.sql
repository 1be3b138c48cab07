-- Fewer index writes per job on the hot path.
--
-- Room on every page of `jobs` for heap-only (HOT) updates: progress and lease renewals rewrite
-- the row without touching its indexes when the new version fits on the same page.
ALTER TABLE jobs SET (fillfactor = 80);

-- Rescue looks for expired leases among running jobs (at most workers × concurrency rows). An
-- index on the expiry itself made every lease renewal an index write; indexing the running set
-- by id does not change when a lease is renewed, so renewals can be HOT updates.
DROP INDEX jobs_lease_expiry;
CREATE INDEX jobs_running ON jobs (id) WHERE state = 'running';

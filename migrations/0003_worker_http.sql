-- Where each worker serves /healthz, /readyz and /metrics (NULL when disabled).
ALTER TABLE workers ADD COLUMN http_address text;

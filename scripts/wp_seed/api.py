"""A small WordPress REST API client: one keep-alive connection per thread, HTTP Basic
auth with an Application Password, /batch/v1 for bulk creation."""

import base64
import http.client
import json
import threading
import urllib.parse

BATCH_LIMIT = 25  # WordPress's maximum number of requests in one /batch/v1 call.


class SeedError(Exception):
    """A failure worth one clear line on stderr."""


# ---- HTTP ----------------------------------------------------------------------------


class Api:
    """A WordPress REST client: keep-alive connection per thread, HTTP Basic auth."""

    def __init__(self, url, user, password, timeout=120):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SeedError(f"--url must look like http://host:port, not {url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.root = parts.path.rstrip("/") + "/wp-json"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {
            "Authorization": f"Basic {token}",
            "Accept": "application/json",
            "User-Agent": "understudy-wp-seed/1",
        }
        self.timeout = timeout
        self.local = threading.local()
        self.requests = 0
        self.lock = threading.Lock()

    def _connection(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            return conn, False
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout)
        self.local.conn = conn
        return conn, True

    def _drop(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
        self.local.conn = None

    def call(self, method, route, params=None, body=None, raw=None, headers=None):
        """Returns (parsed JSON, response headers). Raises SeedError for HTTP >= 400."""
        path = self.root + route
        if params:
            path += "?" + urllib.parse.urlencode(params, doseq=True)
        hdrs = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
        hdrs.update(headers or {})
        for attempt in (1, 2):
            conn, fresh = self._connection()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest) as exc:
                # The server closed an idle keep-alive connection: retry once on a new one.
                self._drop()
                if fresh or attempt == 2:
                    raise SeedError(f"{method} {path}: connection failed: {exc}") from None
                continue
            except OSError as exc:
                self._drop()
                raise SeedError(f"{method} {path}: {exc}; is the site up?") from None
            if resp.will_close:
                self._drop()
            break
        with self.lock:
            self.requests += 1
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = None
        if resp.status >= 400:
            raise SeedError(f"{method} {route} -> HTTP {resp.status}: {describe_error(parsed, payload)}")
        if parsed is None and payload:
            raise SeedError(f"{method} {route} -> HTTP {resp.status} but not JSON: {payload[:200]!r}")
        return parsed, resp.headers

    def get(self, route, **params):
        return self.call("GET", route, params=params)[0]

    def post(self, route, body):
        return self.call("POST", route, body=body)[0]

    def total(self, route, **params):
        """X-WP-Total for a collection (one tiny page is fetched)."""
        _, headers = self.call("GET", route, params=dict(params, per_page=1, _fields="id"))
        return int(headers.get("X-WP-Total", "0"))

    def list_all(self, route, **params):
        items, page = [], 1
        while True:
            chunk, headers = self.call("GET", route, params=dict(params, per_page=100, page=page))
            items.extend(chunk)
            if page >= int(headers.get("X-WP-TotalPages", "1") or 1):
                return items
            page += 1

    def batch(self, requests):
        """POST many (route, body) pairs through /batch/v1; returns the created objects."""
        out = []
        for start in range(0, len(requests), BATCH_LIMIT):
            chunk = requests[start:start + BATCH_LIMIT]
            result = self.post("/batch/v1", {
                "validation": "normal",
                "requests": [{"method": "POST", "path": route, "body": body} for route, body in chunk],
            })
            for (route, _), res in zip(chunk, result["responses"]):
                if res["status"] >= 400:
                    raise SeedError(f"batch POST {route} -> HTTP {res['status']}: {describe_error(res.get('body'), b'')}")
                out.append(res["body"])
        return out


def describe_error(parsed, payload):
    if isinstance(parsed, dict) and "code" in parsed:
        return f"{parsed['code']}: {parsed.get('message', '')}"
    return repr(payload[:200])

"""A thin Schema Registry client for Confluent's REST API v1, with the caches serializers need.

Thread-safe (urllib3's pool is, and the caches take a lock), keep-alive connections,
several base URLs with failover, retries with exponential backoff on 408/429/5xx and
connection errors, basic auth and TLS options. Errors carry the registry's error_code.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import urllib3

from formats import Schema

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryError(Exception):
    """An error answer from the registry (or no answer at all: http_status -1)."""

    def __init__(self, http_status: int, error_code: int, message: str):
        super().__init__(f"{message} (HTTP status code {http_status}, SR code {error_code})")
        self.http_status = http_status
        self.error_code = error_code
        self.error_message = message


@dataclass(frozen=True)
class RegisteredSchema:
    schema_id: int
    schema: Schema
    subject: str
    version: int


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    schemas_by_id: dict[object, Schema] = field(default_factory=dict)
    ids_by_schema: dict[tuple[str, Schema, bool], int] = field(default_factory=dict)
    latest: dict[str, tuple[float, RegisteredSchema]] = field(default_factory=dict)
    versions: dict[tuple, RegisteredSchema] = field(default_factory=dict)


def _path(*parts) -> str:
    return "/" + "/".join(quote(str(p), safe="") for p in parts)


class SchemaRegistryClient:
    """`conf` uses Confluent's names: url (comma-separated for failover),
    basic.auth.credentials.source (USER_INFO, URL, SASL_INHERIT) with basic.auth.user.info
    ("user:password") or sasl.username/sasl.password, bearer.auth.credentials.source=STATIC_TOKEN
    with bearer.auth.token, ssl.ca.location, ssl.certificate.location, ssl.key.location,
    ssl.key.password, timeout (seconds), max.retries, retries.wait.ms, retries.max.wait.ms,
    latest.cache.ttl.sec."""

    def __init__(self, conf: dict):
        conf = dict(conf)
        urls = conf.pop("url", None)
        if not urls:
            raise ValueError("Missing required configuration property url")
        self.urls = [u.strip().rstrip("/") for u in urls.split(",") if u.strip()]
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"Invalid url {url_without_userinfo(url)}: must start with http:// or https://")
        self.timeout = float(conf.pop("timeout", 10))
        self.max_retries = int(conf.pop("max.retries", 3))
        self.retry_wait = int(conf.pop("retries.wait.ms", 100)) / 1000
        self.retry_max_wait = int(conf.pop("retries.max.wait.ms", 5000)) / 1000
        self.latest_ttl = float(conf.pop("latest.cache.ttl.sec", 60))
        headers = {"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE, **_auth_headers(conf, self.urls)}
        self.urls = [url_without_userinfo(url) for url in self.urls]
        tls = {}
        if "ssl.ca.location" in conf:
            tls["ca_certs"] = conf.pop("ssl.ca.location")
        if "ssl.certificate.location" in conf:
            tls["cert_file"] = conf.pop("ssl.certificate.location")
        if "ssl.key.location" in conf:
            tls["key_file"] = conf.pop("ssl.key.location")
        if "ssl.key.password" in conf:
            tls["key_password"] = conf.pop("ssl.key.password")
        if conf:
            raise ValueError(f"Unrecognized properties: {', '.join(sorted(conf))}")
        self._http = urllib3.PoolManager(num_pools=4, maxsize=8, headers=headers, retries=False, **tls)
        self._cache = _Cache()
        self._preferred = 0  # index of the URL that answered last

    # -- transport --------------------------------------------------------------------

    def _request(self, method: str, path: str, body=None, params: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        attempt = 0
        while True:
            url = self.urls[(self._preferred + attempt) % len(self.urls)]
            try:
                resp = self._http.request(method, url + path + _query(params), body=data, timeout=self.timeout)
            except urllib3.exceptions.HTTPError as exc:
                status, error_code, message = -1, -1, f"cannot reach the schema registry at {url}: {exc}"
            else:
                if resp.status < 400:
                    self._preferred = (self._preferred + attempt) % len(self.urls)
                    return json.loads(resp.data) if resp.data else None
                status, error_code, message = _error_of(resp)
                if status not in RETRY_STATUSES:
                    raise SchemaRegistryError(status, error_code, message)
            if attempt >= self.max_retries + len(self.urls) - 1:
                raise SchemaRegistryError(status, error_code, message)
            if attempt >= len(self.urls) - 1:  # every URL tried once: back off before retrying
                delay = min(self.retry_max_wait, self.retry_wait * 2 ** (attempt - len(self.urls) + 1))
                time.sleep(delay * random.uniform(0.5, 1.0))
            attempt += 1

    def close(self) -> None:
        self._http.clear()

    # -- schemas ------------------------------------------------------------------------

    def register_schema(self, subject: str, schema: Schema, normalize_schemas: bool = False) -> int:
        return self.register_schema_full_response(subject, schema, normalize_schemas).schema_id

    def register_schema_full_response(self, subject: str, schema: Schema,
                                      normalize_schemas: bool = False) -> RegisteredSchema:
        key = (subject, schema, normalize_schemas)
        with self._cache.lock:
            known = self._cache.ids_by_schema.get(key)
        if known is not None:
            return RegisteredSchema(known, schema, subject, -1)
        body = self._request("POST", _path("subjects", subject, "versions"), schema.to_dict(),
                             {"normalize": _flag(normalize_schemas)})
        schema_id = body["id"]
        with self._cache.lock:
            self._cache.ids_by_schema[key] = schema_id
            self._cache.schemas_by_id.setdefault(schema_id, schema)
        return RegisteredSchema(schema_id, schema, subject, body.get("version", -1))

    def get_schema(self, schema_id: int, fmt: str | None = None) -> Schema:
        """The schema of an id; `fmt="serialized"` asks for protobuf's base64 descriptor form."""
        key = schema_id if fmt is None else (schema_id, fmt)
        with self._cache.lock:
            cached = self._cache.schemas_by_id.get(key)
        if cached is not None:
            return cached
        params = {"format": fmt} if fmt else None
        schema = Schema.from_dict(self._request("GET", _path("schemas", "ids", schema_id), params=params))
        with self._cache.lock:
            self._cache.schemas_by_id[key] = schema
        return schema

    def lookup_schema(self, subject: str, schema: Schema, normalize_schemas: bool = False,
                      deleted: bool = False) -> RegisteredSchema:
        body = self._request("POST", _path("subjects", subject), schema.to_dict(),
                             {"normalize": _flag(normalize_schemas), "deleted": _flag(deleted)})
        registered = _registered(body)
        with self._cache.lock:
            self._cache.ids_by_schema[(subject, schema, normalize_schemas)] = registered.schema_id
        return registered

    def get_latest_version(self, subject: str) -> RegisteredSchema:
        now = time.monotonic()
        with self._cache.lock:
            cached = self._cache.latest.get(subject)
        if cached is not None and now - cached[0] < self.latest_ttl:
            return cached[1]
        registered = _registered(self._request("GET", _path("subjects", subject, "versions", "latest")))
        with self._cache.lock:
            self._cache.latest[subject] = (now, registered)
        return registered

    def get_version(self, subject: str, version: int | str, fmt: str | None = None) -> RegisteredSchema:
        cacheable = isinstance(version, int) and version > 0
        key = (subject, version, fmt)
        if cacheable:
            with self._cache.lock:
                cached = self._cache.versions.get(key)
            if cached is not None:
                return cached
        params = {"format": fmt} if fmt else None
        registered = _registered(self._request("GET", _path("subjects", subject, "versions", version),
                                               params=params))
        if cacheable:
            with self._cache.lock:
                self._cache.versions[key] = registered
        return registered

    def get_versions(self, subject: str, deleted: bool = False) -> list[int]:
        """The subject's versions; `deleted`: the soft-deleted ones too."""
        params = {"deleted": "true"} if deleted else None
        return self._request("GET", _path("subjects", subject, "versions"), params=params)

    def get_subjects(self, deleted: bool = False) -> list[str]:
        """The subjects; `deleted`: the soft-deleted ones too."""
        return self._request("GET", "/subjects", params={"deleted": "true"} if deleted else None)

    def get_subjects_by_schema_id(self, schema_id: int) -> list[str]:
        return self._request("GET", _path("schemas", "ids", schema_id, "subjects"))

    def get_versions_by_schema_id(self, schema_id: int) -> list[dict]:
        """[{"subject": ..., "version": ...}] under which the schema id is registered."""
        return self._request("GET", _path("schemas", "ids", schema_id, "versions"))

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        with self._cache.lock:
            self._cache.latest.pop(subject, None)
            # A subject deleted for good may be registered again, with new ids under the same versions.
            for key in [k for k in self._cache.versions if k[0] == subject]:
                del self._cache.versions[key]
            for key in [k for k in self._cache.ids_by_schema if k[0] == subject]:
                del self._cache.ids_by_schema[key]
        return self._request("DELETE", _path("subjects", subject), params={"permanent": _flag(permanent)})

    def delete_version(self, subject: str, version: int, permanent: bool = False) -> int:
        with self._cache.lock:
            self._cache.latest.pop(subject, None)
            for key in [k for k in self._cache.versions if k[0] == subject and k[1] == version]:
                del self._cache.versions[key]
        return self._request("DELETE", _path("subjects", subject, "versions", version),
                             params={"permanent": _flag(permanent)})

    def test_compatibility(self, subject: str, schema: Schema, version: int | str = "latest") -> bool:
        body = self._request("POST", _path("compatibility", "subjects", subject, "versions", version),
                             schema.to_dict())
        return body["is_compatible"]

    def check_compatibility(self, subject: str, schema: Schema,
                            version: int | str = "latest") -> tuple[bool, list[str]]:
        """Whether `schema` is compatible with the subject's `version`, with the registry's messages
        saying why not (its verbose answer)."""
        body = self._request("POST", _path("compatibility", "subjects", subject, "versions", version),
                             schema.to_dict(), {"verbose": "true"})
        return body["is_compatible"], list(body.get("messages") or [])

    def set_compatibility(self, subject: str | None = None, level: str | None = None) -> str:
        path = _path("config", subject) if subject else "/config"
        return self._request("PUT", path, {"compatibility": level})["compatibility"]

    def get_compatibility(self, subject: str | None = None) -> str:
        path = _path("config", subject) if subject else "/config"
        return self._request("GET", path)["compatibilityLevel"]


    def get_mode(self, subject: str | None = None) -> str:
        path = _path("mode", subject) if subject else "/mode"
        return self._request("GET", path)["mode"]

    def set_mode(self, mode: str, subject: str | None = None, force: bool = False) -> str:
        path = _path("mode", subject) if subject else "/mode"
        return self._request("PUT", path, {"mode": mode}, {"force": _flag(force)})["mode"]

    def get_schema_types(self) -> list[str]:
        return self._request("GET", "/schemas/types")

    # -- administration: uncached, for tools that show the registry's current state ----------

    def get_subject_version(self, subject: str, version: int | str, deleted: bool = False) -> dict:
        """The registry's answer for a version (subject, version, id, schema, schemaType,
        references); `deleted`: a soft-deleted version too."""
        return self._request("GET", _path("subjects", subject, "versions", version),
                             params={"deleted": "true"} if deleted else None)

    def get_referenced_by(self, subject: str, version: int | str) -> list[int]:
        """The ids of the schemas that reference the subject's version."""
        return self._request("GET", _path("subjects", subject, "versions", version, "referencedby"))

    def register_version(self, subject: str, schema: Schema, normalize: bool = False) -> dict:
        """Registers `schema` under the subject, bypassing the serializers' cache: {"id": ...}."""
        with self._cache.lock:
            self._cache.latest.pop(subject, None)
        return self._request("POST", _path("subjects", subject, "versions"), schema.to_dict(),
                             {"normalize": _flag(normalize)})


def _auth_headers(conf: dict, urls: list[str]) -> dict[str, str]:
    """The Authorization header from Confluent's settings (they are popped from `conf`):
    basic.auth.credentials.source USER_INFO (basic.auth.user.info, "user:password"), URL (the
    user:password@ of the url) or SASL_INHERIT (sasl.username / sasl.password); or
    bearer.auth.credentials.source STATIC_TOKEN with bearer.auth.token (and Confluent Cloud's
    bearer.auth.logical.cluster / bearer.auth.identity.pool.id headers)."""
    source = conf.pop("basic.auth.credentials.source", None)
    user_info = conf.pop("basic.auth.user.info", None)
    sasl = (conf.pop("sasl.username", None), conf.pop("sasl.password", None))
    bearer_source = conf.pop("bearer.auth.credentials.source", None)
    bearer = {key: conf.pop(key) for key in ("bearer.auth.token", "bearer.auth.logical.cluster",
                                              "bearer.auth.identity.pool.id") if key in conf}
    if bearer_source is not None:
        if source is not None or user_info:
            raise ValueError("basic.auth.* and bearer.auth.* cannot both be set")
        return _bearer_headers(bearer_source, bearer)
    in_url = any("@" in urlsplit(url).netloc for url in urls)
    if source is None and user_info and in_url:
        raise ValueError("basic.auth.user.info is set and the url holds user:password@ too; keep one of them")
    if source is None and not user_info:
        if not in_url:
            return {}
        source = "URL"  # as confluent-kafka's client: credentials in the url are used as they are
    source = (source or "USER_INFO").upper()
    if source == "USER_INFO":
        if not user_info or ":" not in user_info:
            raise ValueError("basic.auth.credentials.source USER_INFO needs basic.auth.user.info as user:password")
    elif source == "URL":
        infos = {unquote(urlsplit(url).username or "") + ":" + unquote(urlsplit(url).password or "")
                 for url in urls if "@" in urlsplit(url).netloc}
        if len(infos) != 1:
            raise ValueError("basic.auth.credentials.source URL needs user:password@ in the url (the same in each)")
        user_info = infos.pop()
    elif source == "SASL_INHERIT":
        if not all(sasl):
            raise ValueError("basic.auth.credentials.source SASL_INHERIT needs sasl.username and sasl.password")
        user_info = f"{sasl[0]}:{sasl[1]}"
    else:
        raise ValueError(f"basic.auth.credentials.source must be USER_INFO, URL or SASL_INHERIT, not {source!r}")
    return {"Authorization": "Basic " + base64.b64encode(user_info.encode()).decode()}


def _bearer_headers(source: str, settings: dict[str, str]) -> dict[str, str]:
    if source.upper() != "STATIC_TOKEN":
        raise ValueError(f"bearer.auth.credentials.source {source!r} is not supported here (STATIC_TOKEN is)")
    if not settings.get("bearer.auth.token"):
        raise ValueError("bearer.auth.credentials.source STATIC_TOKEN needs bearer.auth.token")
    headers = {"Authorization": f"Bearer {settings['bearer.auth.token']}"}
    if settings.get("bearer.auth.logical.cluster"):
        headers["target-sr-cluster"] = settings["bearer.auth.logical.cluster"]
    if settings.get("bearer.auth.identity.pool.id"):
        headers["Confluent-Identity-Pool-Id"] = settings["bearer.auth.identity.pool.id"]
    return headers


def url_without_userinfo(url: str) -> str:
    """The url without user:password@ (which must never reach a log line or an error message)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _registered(body: dict) -> RegisteredSchema:
    return RegisteredSchema(body["id"], Schema.from_dict(body), body["subject"], body["version"])


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _query(params: dict | None) -> str:
    if not params:
        return ""
    return "?" + "&".join(f"{quote(k)}={quote(str(v))}" for k, v in params.items())


def _error_of(resp) -> tuple[int, int, str]:
    try:
        body = json.loads(resp.data)
        return resp.status, int(body.get("error_code", resp.status)), str(body.get("message", ""))
    except (ValueError, AttributeError):
        return resp.status, resp.status, resp.data.decode("utf-8", "replace")[:200] or f"HTTP {resp.status}"

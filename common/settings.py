"""Every setting of the product, read once from the environment (or a `.env` file).

A bad value ends the process with one line that names the variable (see `load_settings`), never a
traceback: operators fix environment variables, not Python.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "LLMProviderName",
    "Settings",
    "SettingsError",
    "configured_app",
    "load_settings",
    "named_entries",
    "redacted_url",
    "try_load_settings",
]

DEFAULT_TASK_QUEUE = "ai-workflows"
_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")

# URL settings that may carry a credential (userinfo, a webhook's secret path, a query token):
# printed as scheme://host:port only.
_URL_SETTINGS = frozenset(
    {
        "temporal_web_ui",
        "anthropic_base_url",
        "openai_base_url",
        "embeddings_base_url",
        "approval_escalation_url",
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
        "otel_exporter_otlp_metrics_endpoint",
    }
)


def redacted_url(url: str) -> str:
    """`url` without userinfo, path, query and fragment (where URLs carry secrets)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    rest = "/***" if (parts.path.strip("/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{'***@' if parts.username or parts.password else ''}{host}{port}{rest}"


LLMProviderName = Literal["anthropic", "openai", "offline", "scripted"]
OtlpProtocol = Literal["http/protobuf", "grpc"]


def named_entries(
    setting: str, name_pattern: re.Pattern[str], *, expected: str, twice: str
) -> Iterator[tuple[int, str, str]]:
    """`NAME:VALUE,NAME:VALUE,...` as (position, name, value), empty entries skipped. An entry
    without `:` or with a name the pattern refuses raises `ValueError(f"entry N: {expected}")`, a name
    given twice `ValueError(f"entry N: {twice}")` (`twice` may use `{name!r}`). No message quotes a
    value: values are keys and password hashes."""
    seen: set[str] = set()
    for position, entry in enumerate((part.strip() for part in setting.split(",")), start=1):
        if not entry:
            continue
        name, sep, value = entry.partition(":")
        name = name.strip()
        if not sep or not name_pattern.match(name):
            raise ValueError(f"entry {position}: {expected}")
        if name in seen:
            raise ValueError(f"entry {position}: " + twice.format(name=name))
        seen.add(name)
        yield position, name, value.strip()


_Built = TypeVar("_Built")


class SettingsError(Exception):
    """A setting that cannot work; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Temporal connection
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = DEFAULT_TASK_QUEUE
    temporal_api_key: SecretStr | None = None
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_connect_timeout_s: float = Field(default=30.0, gt=0)
    temporal_web_ui: str = "http://localhost:8233"

    # LLM providers. `llm_provider` unset means: anthropic when a key is set, else offline.
    llm_provider: LLMProviderName | None = None
    llm_model: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    llm_pricing_file: Path | None = None
    # LLM_PROVIDER=scripted: a JSON list of rules (common/llm_script.py), read and checked at start.
    llm_script_file: Path | None = None
    # How long a model call may stay silent and still count as progressing (worker/liveness.py): before
    # its first stream event, and between two events. Past them its heartbeats stop and it is retried.
    llm_first_byte_timeout_s: float = Field(default=60.0, gt=0)
    llm_stall_timeout_s: float = Field(default=30.0, gt=0)

    # Worker behaviour
    worker_graceful_shutdown_s: float = Field(default=30.0, ge=0)
    # How long a run's next workflow task waits on its worker's sticky queue before any worker may take
    # it (docs/operations.md, "Recovery settings"); a dead worker's runs are released at once by the
    # reaper (worker/reaper.py), so this only has to outlast a saturated live worker's queue.
    worker_sticky_queue_timeout_s: float = Field(default=5.0, gt=0)
    worker_max_concurrent_activities: int = Field(default=200, gt=0)
    # Workflow tasks run in a thread pool of this size (the SDK's default is 500 threads). They hold
    # the GIL, so more threads add no throughput but starve the event loop that runs activities and
    # sends their heartbeats (docs/operations.md, "Recovery settings").
    worker_max_concurrent_workflow_tasks: int = Field(default=32, gt=0)
    # Each worker's lease and in-flight attempts (worker/inflight.py): workers sharing this directory
    # (one machine) retry a dead peer's attempts at once instead of after their heartbeat timeout.
    worker_lease_dir: Path = Path(".state/workers")
    research_max_parallel: int = Field(default=8, gt=0)
    # Extensions of the worker besides the installed packages' `ai_workflows.plugins` entry points:
    # comma-separated `module:attribute` names of `worker.plugin.Extension` objects.
    worker_plugins: str = ""

    # Tools
    tools_http_allowlist: str = ""  # comma-separated origins http_get may fetch (common/egress.py)
    tools_http_max_bytes: int = Field(default=200_000, gt=0)
    tools_http_timeout_s: float = Field(default=10.0, gt=0)
    tools_docs_dir: Path = Path(__file__).resolve().parent.parent / "docs" / "corpus"
    # Outbound HTTP (webhooks, send_webhook, http_get) reaches public addresses only; these
    # comma-separated hosts or CIDRs are allowed anyway (common/egress.py), e.g. `10.0.0.0/8`.
    egress_allow_private: str = ""
    # MCP tool servers (activities/mcp): a JSON file in the shared `mcpServers` format, with this
    # product's keys beside each server. Empty: no MCP servers.
    mcp_servers_file: str = ""

    # Delivery side effects (docs/operations.md). The ledger records sent email keys: a SQLite file by
    # default (workers on one host), PostgreSQL when DEDUPE_LEDGER_DSN is set (workers on many hosts).
    delivery_timeout_s: float = Field(default=30.0, gt=0)  # per webhook request / SMTP operation
    delivery_file_root: Path = Path(".state/deliveries")  # `file:` targets write only below it
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_from: str = "ai-workflows@localhost"
    dedupe_ledger_path: Path = Path(".state/dedupe-ledger.sqlite3")
    dedupe_ledger_dsn: SecretStr | None = None

    # Spend governance (docs/design.md): tenant reservations and the shared LLM rate limiter live in
    # one database: a SQLite file by default (workers on one host), PostgreSQL when SPEND_LEDGER_DSN
    # is set (workers on many hosts).
    spend_ledger_path: Path = Path(".state/spend-ledger.sqlite3")
    spend_ledger_dsn: SecretStr | None = None
    # Requests and tokens per minute per provider/model, shared by every worker through that database
    # (common/rate_limits.py: a JSON object such as {"openai/*": {"rpm": 500, "tpm": 200000}}).
    llm_rate_limits: str = ""
    # Tenant budgets (common/tenant_budgets.py): a JSON object from tenant to {"daily_usd": X,
    # "monthly_usd": Y}, re-read when it changes. Empty: no tenant has a limit.
    tenant_budgets_file: str = ""

    # Grounded answers (activities/retrieval): the index is a SQLite FTS5 file by default (one host),
    # PostgreSQL full-text search when INDEX_DSN is set (workers on many hosts). With
    # EMBEDDINGS_BASE_URL (an OpenAI-compatible `/v1` root) passages are also embedded and retrieved
    # by cosine similarity, fused with the keyword ranking.
    index_path: Path = Path(".state/index.sqlite3")
    index_dsn: SecretStr | None = None
    # The folders IndexWorkflow may read, comma-separated (activities/retrieval/files.py): a folder is
    # indexed only if its real path (symlinks and `..` resolved) is one of them or below one. Relative
    # entries are relative to the worker's working directory, as INDEX_PATH is. Empty: nothing.
    index_roots: str = str(Path(__file__).resolve().parent.parent / "docs" / "corpus")
    # A file over the first is skipped (never read whole); a corpus whose indexable files add up to
    # more than the second fails its run.
    index_max_file_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    index_max_corpus_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    embeddings_base_url: str | None = None
    embeddings_model: str = "nomic-embed-text"
    embeddings_api_key: SecretStr | None = None

    # Approvals: where `approval.notify_escalation` POSTs a notice when a deadline passes undecided
    # (unset: a warning in the worker log only).
    approval_escalation_url: str | None = None
    # Signed approvals: a JSON object from approver name to that approver's public key line (or to
    # {"key": ..., "signs_for": [...]} for a signer such as the inbox). Empty: decisions unauthenticated.
    approver_keys_file: str = ""
    # What needs a person (common/approval_rules.py): a JSON list of rules, first match wins.
    approval_rules_file: str = ""

    # Seals on the state a run carries across continue-as-new (activities/run_state.py): one or more
    # secrets of at least 32 characters, comma-separated, the first seals. Unset: a random key made in
    # RUN_STATE_KEY_FILE on first use (workers on one host); workers on several hosts share a key here.
    run_state_key: SecretStr | None = None
    run_state_key_file: Path = Path(".state/run-state.key")

    # Payload encryption: comma-separated `key_id:base64key`, newest last. Empty: no encryption.
    payload_keys: SecretStr | None = None
    # External payload storage (common/payload_store.py): payloads of at least the threshold go to a
    # content-addressed store and history keeps a reference. Every worker, starter and tool that reads
    # this namespace's runs must reach the same store (one directory per machine, or one bucket).
    payload_store: Literal["local", "s3", "off"] = "local"
    payload_store_dir: Path = Path(".state/payloads")
    # Only payloads between a workflow and its activities are stored (public ones stay inline), and
    # only workers read those: 2 KiB moves a typical model reply out too (docs/benchmarks.md).
    payload_store_threshold_bytes: int = Field(default=2048, ge=0)
    # PAYLOAD_STORE=s3 (common/payload_s3.py): the bucket and key prefix; AWS_ENDPOINT_URL for MinIO
    # or another S3-compatible server, AWS_REGION; credentials from the standard AWS chain.
    payload_store_s3_bucket: str | None = None
    payload_store_s3_prefix: str = "ai-workflows/payloads/"
    aws_endpoint_url: str | None = None
    aws_region: str | None = None
    # Codec server for the Web UI (`python -m worker.codec_server`): HOST:PORT, the bearer token
    # callers must send, comma-separated browser origins allowed by CORS.
    codec_server_bind: str = "127.0.0.1:8081"
    codec_server_token: SecretStr | None = None
    codec_server_allowed_origins: str = "http://localhost:8233"
    # A browser's /login session ends this long after sign-in (or at /logout, or DELETE /sessions).
    codec_server_session_max_age_s: int = Field(default=8 * 3600, gt=0)
    # One /decode request may resolve at most this many store references, and answer at most this
    # many bytes of decoded payloads (a few hundred 230-byte references could ask for gigabytes).
    codec_server_max_references: int = Field(default=32, gt=0)
    codec_server_max_response_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    # Browser sign-ins (/login) per client address within the window; past them 429 for a lockout
    # that starts at the window and doubles on each repeat (capped), as the inbox's INBOX_LOGIN_*.
    codec_server_login_max_attempts: int = Field(default=10, gt=0)
    codec_server_login_window_s: float = Field(default=300.0, gt=0)
    codec_server_login_max_lockout_s: float = Field(default=3600.0, gt=0)

    # Observability (docs/observability.md). The OTEL_* names are OpenTelemetry's standard ones;
    # OTLP headers, timeouts and certificates (OTEL_EXPORTER_OTLP_HEADERS, ...) are read by the
    # exporters themselves. No endpoint set: nothing is exported.
    metrics_prometheus_bind: str | None = None
    otel_traces_console: bool = False
    otel_capture_content: bool = False
    otel_sdk_disabled: bool = False
    otel_service_name: str | None = None
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None
    otel_exporter_otlp_metrics_endpoint: str | None = None
    otel_exporter_otlp_protocol: OtlpProtocol = "http/protobuf"
    otel_exporter_otlp_traces_protocol: OtlpProtocol | None = None
    otel_exporter_otlp_metrics_protocol: OtlpProtocol | None = None

    # Approval inbox (`python -m inbox`). Reviewers: comma-separated `name:hash`, hashes made by
    # `python -m inbox hash-password`. Secret key: signs session cookies (unset: random per process).
    inbox_host: str = "127.0.0.1"
    inbox_port: int = Field(default=8080, ge=0, lt=65536)
    inbox_reviewers: SecretStr | None = None
    inbox_secret_key: SecretStr | None = None
    inbox_cookie_secure: bool = False  # set behind HTTPS: the session cookie gets `Secure`
    inbox_session_max_age_s: int = Field(default=8 * 3600, gt=0)
    # Sign-in attempts per reviewer name and per client address within the window; past them the
    # inbox answers 429 for a lockout that starts at the window and doubles on each repeat (capped).
    inbox_login_max_attempts: int = Field(default=5, gt=0)
    inbox_login_max_attempts_per_address: int = Field(default=20, gt=0)
    inbox_login_window_s: float = Field(default=300.0, gt=0)
    inbox_login_max_lockout_s: float = Field(default=3600.0, gt=0)
    # Signed approvals: the inbox's own private key (`starter keys new inbox`) signs each decision for
    # the signed-in reviewer, as the signer APPROVER_KEYS_FILE names (with `signs_for` the reviewers).
    inbox_signing_key_file: Path | None = None
    inbox_signer_name: str = Field(default="inbox", min_length=1)

    # MCP server (`python -m starter mcp`): the bearer token its HTTP transport requires (unset: no
    # HTTP server), and an approver's key with which its `approve` / `reject` tools sign (unset: the
    # server decides nothing).
    mcp_server_token: SecretStr | None = None
    mcp_server_approver_key_file: Path | None = None
    mcp_server_approver: str | None = None

    @field_validator("temporal_address", "codec_server_bind")
    @classmethod
    def _address_is_host_port(cls, value: str) -> str:
        match = _ADDRESS.match(value)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise ValueError(f"expected HOST:PORT, got {value!r}")
        return value

    @field_validator("temporal_task_queue", "temporal_namespace")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("payload_keys")
    @classmethod
    def _payload_keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            from common.encryption import parse_key_ring  # cryptography only when keys are set

            parse_key_ring(value.get_secret_value())  # a bad key stops the process at start
        return value

    @field_validator("approval_rules_file")
    @classmethod
    def _approval_rules_load(cls, value: str) -> str:
        if value.strip():
            from common.approval_rules import load_rules

            load_rules(value)  # a bad rule stops the process at start, naming it
        return value

    @field_validator("tenant_budgets_file")
    @classmethod
    def _tenant_budgets_load(cls, value: str) -> str:
        if value.strip():
            from common.tenant_budgets import load_budgets

            load_budgets(Path(value))  # a bad file stops the process at start, naming it
        return value

    @field_validator("run_state_key")
    @classmethod
    def _run_state_keys_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # unset: the key file
        for position, key in enumerate(value.get_secret_value().split(","), start=1):
            if len(key.strip()) < 32:
                raise ValueError(f"key {position}: at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("egress_allow_private")
    @classmethod
    def _egress_allow_private_parses(cls, value: str) -> str:
        from common.egress import parse_allow_private

        parse_allow_private(value)  # a bad entry stops the process at start
        return value

    @field_validator("tools_http_allowlist")
    @classmethod
    def _tools_http_allowlist_parses(cls, value: str) -> str:
        from common.egress import parse_origin

        for entry in value.split(","):
            if entry.strip():
                parse_origin(entry)  # a bad entry stops the process at start, not the first fetch
        return value

    @field_validator("llm_rate_limits")
    @classmethod
    def _llm_rate_limits_parse(cls, value: str) -> str:
        from common.rate_limits import parse_rate_limits

        parse_rate_limits(value)  # a bad entry stops the process at start, naming it
        return value

    @field_validator("dedupe_ledger_dsn", "spend_ledger_dsn")
    @classmethod
    def _ledger_dsn_usable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # empty: the SQLite ledger
        try:
            from psycopg.conninfo import conninfo_to_dict  # only a worker with a DSN needs psycopg
        except ImportError:
            raise ValueError("needs the psycopg package: pip install 'ai-workflows[postgres]'") from None
        try:
            conninfo_to_dict(value.get_secret_value())
        except Exception:  # psycopg's message quotes the string, which may hold a password
            raise ValueError(
                "not a PostgreSQL connection string (postgresql://USER:PASSWORD@HOST/DB or key=value pairs)"
            ) from None
        return value

    @model_validator(mode="after")
    def _provider_has_what_it_needs(self) -> Settings:
        if self.llm_provider is None:
            self.llm_provider = "anthropic" if self.anthropic_api_key else "offline"
        if self.llm_provider == "anthropic" and not self.anthropic_api_key:
            raise SettingsError("ANTHROPIC_API_KEY: required when LLM_PROVIDER=anthropic")
        if self.llm_provider == "openai" and not self.openai_base_url:
            raise SettingsError("OPENAI_BASE_URL: required when LLM_PROVIDER=openai")
        if self.llm_provider == "scripted":
            _check_script(self.llm_script_file)
        if self.payload_store == "s3" and not (self.payload_store_s3_bucket or "").strip():
            raise SettingsError("PAYLOAD_STORE_S3_BUCKET: required when PAYLOAD_STORE=s3")
        if bool(self.temporal_tls_cert) != bool(self.temporal_tls_key):
            raise SettingsError("TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY: set both for mTLS, or neither")
        return self

    def __repr_args__(self) -> Any:
        # repr() and str() of the settings show no secret: SecretStr masks itself, URLs are cut.
        for name, value in super().__repr_args__():
            yield name, redacted_url(value) if name in _URL_SETTINGS and isinstance(value, str) else value

    @property
    def http_allowlist(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.tools_http_allowlist.split(",") if h.strip())

    @property
    def index_root_paths(self) -> tuple[Path, ...]:
        return tuple(Path(entry.strip()) for entry in self.index_roots.split(",") if entry.strip())

    @property
    def provider(self) -> LLMProviderName:
        assert self.llm_provider is not None  # filled in by the validator
        return self.llm_provider


def _check_script(path: Path | None) -> None:
    """A scripted worker's script, read now: a bad one stops the process with one line at start."""
    if path is None or not str(path).strip():
        raise SettingsError("LLM_SCRIPT_FILE: required when LLM_PROVIDER=scripted")
    from common.llm_script import ScriptError, load_script

    try:
        load_script(path)
    except ScriptError as error:
        raise SettingsError(f"LLM_SCRIPT_FILE: {error}") from None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = "_".join(str(part) for part in first.get("loc", ())).upper() or "settings"
    message = first.get("msg", "invalid value")
    ctx = first.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, SettingsError):
        return str(inner)
    return f"{location}: {message.removeprefix('Value error, ')}"


def try_load_settings(**overrides: object) -> Settings:
    """Settings from the environment; raises `SettingsError` naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError:
        raise
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Settings for an entry point: a bad setting prints one line and exits with status 2."""
    try:
        return try_load_settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def configured_app(
    build: Callable[[Settings], _Built], *errors: type[Exception]
) -> tuple[Settings, _Built] | None:
    """For a server's `main`: the settings and what `build` makes of them; a configuration error
    (`errors`) is one line on stderr and None, for the caller to exit with status 2."""
    settings = load_settings()
    try:
        return settings, build(settings)
    except errors as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return None

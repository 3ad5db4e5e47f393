"""Service configuration: every option has a default, an `HEED_*` environment variable and a CLI flag."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug"]

MIB = 1024 * 1024
_API_KEY = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: fits an Authorization header as it is
_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


class ApiKeyConfigError(ValueError):
    """The configured API keys cannot be used; the message says why without showing any key."""


def parse_api_keys(listed: str | None, file: Path | None) -> tuple[str, ...]:
    """The keys from the comma-separated list and from the file (one per line, `#` starts a comment), in order."""
    keys = [key.strip() for key in (listed or "").split(",") if key.strip()]
    if listed is not None and not keys:
        raise ApiKeyConfigError("HEED_API_KEYS is set but holds no key")
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise ApiKeyConfigError(f"cannot read the API keys file {str(file)!r}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise ApiKeyConfigError(f"the API keys file {str(file)!r} is not UTF-8 text") from None
        from_file = [line.split("#", 1)[0].strip() for line in lines]
        from_file = [key for key in from_file if key]
        if not from_file:
            raise ApiKeyConfigError(f"the API keys file {str(file)!r} holds no key")
        keys += from_file
    for number, key in enumerate(keys, start=1):
        if not _API_KEY.match(key):
            raise ApiKeyConfigError(f"API key #{number} holds a space or a character outside visible ASCII")
    return tuple(dict.fromkeys(keys))


class Settings(BaseSettings):
    """Read from keyword arguments first, then `HEED_<NAME>` environment variables, then the defaults."""

    # hide_input_in_errors: a rejected setting is named with the reason, never echoed (it may be an API key)
    model_config = SettingsConfigDict(env_prefix="HEED_", extra="ignore", frozen=True, hide_input_in_errors=True)

    # Server
    host: str = Field(default="0.0.0.0", description="Interface to listen on.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port to listen on (0 picks a free one).")
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes (each loads every model).")
    log_level: LogLevel = Field(default="info", description="Log level of the JSON logs.")
    shutdown_grace_seconds: int = Field(
        default=30, ge=1, description="How long in-flight requests may take to finish after SIGTERM."
    )

    # Models and ONNX Runtime
    models_dir: Path = Field(default=Path("artifacts"), description="Folder whose sub-folders are model bundles.")
    intra_op_threads: int | None = Field(
        default=None, ge=1, le=256, description="ONNX Runtime threads inside one operator (default: the runtime's)."
    )
    inter_op_threads: int = Field(default=1, ge=1, le=256, description="ONNX Runtime threads across operators.")

    # Request limits
    max_chars: int = Field(default=5000, ge=1, description="Most characters in one text.")
    max_texts: int = Field(default=64, ge=1, description="Most texts in one request.")
    max_body_bytes: int = Field(default=2 * MIB, ge=1024, description="Largest accepted request body, in bytes.")
    max_output_length: int = Field(default=1024, ge=1, description="Largest `max_length` a request may ask for.")
    request_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A translation not finished in this time is answered 504; its work stops at the next decoder step.",
    )
    output_length_cap: int = Field(
        default=256,
        ge=1,
        le=1024,
        description="Most output pieces of the automatic length limit (the bundle's ratio x source pieces + offset, "
        "2 x pieces + 10 for the shipped bundles) when a request gives no max_length.",
    )
    max_request_work: int = Field(
        default=30_000,
        ge=1,
        description="Most work units one translation request may need (the sum over its sentences of beam size x "
        "(output length limit + 1) decoder row-steps, each weighing 1 + source pieces / 180, plus the steps' own "
        "cost: service/app/cost.py); beyond it 413 before anything is decoded. The "
        "default admits a text of max_chars (5,000) characters of short sentences at beam 4 (test_work_limits.py).",
    )
    max_decoding_work: int | None = Field(
        default=13_500,
        ge=1,
        description="Most work units a request's decoding may really take, counted step by step as it decodes (its "
        "live rows weighted by their sources, and each step); a request whose next step would pass it is stopped "
        "there and answered 413. Only requests whose estimate is over it are metered: real text decodes far below "
        "its estimate, outputs that never end (number sequences) do not. The default keeps the worst admitted "
        "request under 2 s of decoding on the 2-core machine (bench.work_budget); for /v1/align, whose estimate is "
        "exact, it applies before decoding. Unset: not metered.",
    )
    light_request_work: int = Field(
        default=2_000,
        ge=1,
        description="A request needing at most this many work units is light: its sentences share batches "
        "with other light requests. A heavier one is decoded in slices of its own (batch_slice_work), on one worker "
        "at a time, and heavy requests leave a worker to light ones, so single sentences keep their latency.",
    )
    batch_slice_work: int = Field(
        default=16_000,
        ge=1,
        description="Most work units in one slice of a heavy request. Larger slices decode its sentences in "
        "fewer, fuller steps (each step costs about as much as 8 more rows); smaller ones let other heavy requests "
        "and a shutdown in sooner.",
    )

    # Batching
    batching: bool = Field(default=True, description="Merge sentences of concurrent requests into shared batches.")
    batch_window_ms: float = Field(
        default=5.0, ge=0, le=1000, description="How long a batch waits for more sentences once its first one arrived."
    )
    max_batch_size: int = Field(default=32, ge=1, le=1024, description="Most sentences decoded in one batch.")
    batch_workers: int = Field(
        default=2, ge=1, le=64, description="Batches decoded at the same time (ONNX Runtime threads)."
    )
    queue_capacity: int = Field(
        default=1024,
        ge=1,
        description="Most sentences waiting for a batch; beyond it requests get 503 with Retry-After.",
    )

    # Access: API keys, rate limits, CORS
    api_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated API keys; when any key is set, every endpoint but the probes, /metrics, the "
        "page and the API docs requires one (Authorization: Bearer <key>). Prefer the variable to the flag.",
    )
    api_keys_file: Path | None = Field(
        default=None, description="File of API keys, one per line, '#' starts a comment; adds to api_keys."
    )
    rate_limit: int | None = Field(
        default=None,
        ge=1,
        description="Requests per minute per API key (per client address when keys are off), with bursts up to "
        "the same number; beyond it 429 with Retry-After. Unset: no limit. Shared by replicas only through Redis.",
    )
    rate_limit_work: int | None = Field(
        default=None,
        ge=1,
        description="Work units per minute per API key (per client address when keys are off), the cost "
        "model's unit (HEED_MAX_REQUEST_WORK), with bursts up to the same number; a translation finding too little "
        "left gets 429 with Retry-After. Unset: no limit on work. Shared by replicas only through Redis.",
    )
    trusted_proxies: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Proxies in front of heed that append to X-Forwarded-For; the client address is read that many "
        "entries from the right. 0: the header is ignored and the TCP peer is the client.",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins allowed to call the API from a browser, or '*' for any (LibreTranslate "
        "web clients). Empty: no CORS headers, same-origin only.",
    )

    # Result store
    store_ttl_seconds: int = Field(
        default=24 * 3600, ge=1, description="How long a stored result can be fetched again."
    )
    store_max_entries: int = Field(
        default=100_000, ge=1, description="Most stored results; the oldest are evicted first."
    )
    store_max_bytes: int = Field(default=512 * MIB, ge=1024, description="Most bytes of stored results (compressed).")
    sqlite_path: Path = Field(default=Path("heed-results.sqlite3"), description="SQLite file of the default store.")
    redis_url: str | None = Field(default=None, description="redis:// URL; when set, results are stored in Redis.")
    redis_prefix: str = Field(default="heed:", description="Prefix of every Redis key heed writes.")
    store_max_entries_per_caller: int = Field(
        default=10_000, ge=1, description="Most stored results per API key (per client address when keys are off); "
        "past it the caller's own oldest are evicted, never another caller's.",
    )  # fmt: skip
    store_max_bytes_per_caller: int = Field(
        default=64 * MIB, ge=1024, description="Most bytes of stored results (compressed) per API key or address."
    )
    redis_timeout_seconds: float = Field(
        default=0.02, gt=0, le=10, description="Redis socket timeout (connect, read, write): sized for a LAN, so a "
        "hung Redis costs a request this much at most before its circuit breaker opens.",
    )  # fmt: skip
    breaker_failures: int = Field(
        default=3, ge=1, description="Consecutive failures of the store (or Redis rate limits) that open its "
        "circuit breaker: calls then fail at once, without waiting on the dependency.",
    )  # fmt: skip
    breaker_open_seconds: float = Field(
        default=5.0, gt=0, description="How long an open circuit breaker waits before one call tries again."
    )

    @field_validator("redis_url", mode="before")
    @classmethod
    def _blank_url_means_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _blank_keys_mean_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_keys_file", mode="before")
    @classmethod
    def _blank_path_means_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        for origin in (item.strip() for item in value.split(",") if item.strip()):
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin like https://example.com (scheme, host, port only)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _queue_holds_a_full_request(self) -> Settings:
        if self.queue_capacity < self.max_texts:
            raise ValueError(
                f"queue_capacity ({self.queue_capacity}) must be at least max_texts ({self.max_texts}), "
                "or the largest allowed request could never be queued"
            )
        return self

    @model_validator(mode="after")
    def _light_requests_fit_the_decoding_limit(self) -> Settings:
        if self.max_decoding_work is not None and self.light_request_work > self.max_decoding_work:
            raise ValueError(
                f"light_request_work ({self.light_request_work}) must be at most max_decoding_work "
                f"({self.max_decoding_work}): light requests share decoder steps with others, so they are not metered"
            )
        return self

    @model_validator(mode="after")
    def _api_keys_are_usable(self) -> Settings:
        self.api_key_values()  # refuse to start with keys that cannot work rather than serve without them
        return self

    def api_key_values(self) -> tuple[str, ...]:
        """Every configured API key (empty when keys are off). Raises ApiKeyConfigError."""
        listed = self.api_keys.get_secret_value() if self.api_keys is not None else None
        return parse_api_keys(listed, self.api_keys_file)

    @property
    def cors_origin_list(self) -> list[str]:
        origins = [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]
        return ["*"] if "*" in origins else origins

    @property
    def store_backend(self) -> Literal["redis", "sqlite"]:
        return "redis" if self.redis_url else "sqlite"

    @property
    def batch_window_seconds(self) -> float:
        return self.batch_window_ms / 1000.0

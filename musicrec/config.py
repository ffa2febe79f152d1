"""Typed settings: ``config.ini`` plus ``MUSICREC_<SECTION>__<KEY>`` environment overrides.

Precedence (highest first): keyword arguments to :func:`load_settings`, environment variables,
``config.ini``, the defaults below. The ini file is found at ``$MUSICREC_CONFIG`` or ``./config.ini``.
Each section of the ini file is one nested model; unknown keys are refused so that a typo in
``config.ini`` is an error, not a silently ignored value.

The keys ``[tuning]`` may choose (``Section.tunable``: ALS factors, alpha and regularization, the ranker's
iterations, depth and learning rate) are *fixed* when they are given explicitly (config.ini, an env
variable or a keyword argument) and *tuned* when they are absent, empty or ``auto``; the field's default
is the value used when tuning is off. :func:`fixed_keys` tells the two apart (pydantic's
``model_fields_set``: the keys a section was built with).
"""

from __future__ import annotations

import configparser
import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "MUSICREC_"
DEFAULT_CONFIG = Path("config.ini")


class ConfigError(ValueError):
    """A setting has a wrong value; the message names the section, the key and the env variable."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # keys [tuning] chooses unless they are given explicitly; "auto" = not given
    tunable: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _auto_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.tunable:
            return {key: value for key, value in data.items() if not (
                key in cls.tunable and isinstance(value, str) and value.strip().lower() == "auto")}
        return data


class Urls(Section):
    features_store_url: str = "http://127.0.0.1:8010"
    events_store_url: str = "http://127.0.0.1:8020"
    recommendations_url: str = "http://127.0.0.1:8000"

    @field_validator("*")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected a URL starting with http:// or https://, found {value!r}")
        return value.rstrip("/")


class Paths(Section):
    raw_dir: Path = Path("data/raw")
    prepared_dir: Path = Path("data/prepared")
    artifacts_dir: Path = Path("artifacts")


class Prepare(Section):
    keep_every_nth: int = Field(1, ge=1)
    keep_incomplete: bool = False


class Split(Section):
    # None: derived from the data (the last ``test_fraction`` of the time range), and printed.
    split_date: dt.date | None = None

    @field_validator("split_date", mode="before")
    @classmethod
    def _auto_date(cls, value: object) -> object:
        # "" or "auto" (e.g. MUSICREC_SPLIT__SPLIT_DATE=auto) asks for the date derived from the data.
        return None if isinstance(value, str) and value.strip().lower() in ("", "auto") else value
    test_fraction: float = Field(0.1, gt=0, lt=1)


class Popular(Section):
    n: int = Field(100, ge=1)
    recent_days: int = Field(28, ge=1)


class Als(Section):
    tunable = ("factors", "alpha", "regularization")

    factors: int = Field(64, ge=1)
    iterations: int = Field(10, ge=1)
    # iterations of a fit that starts from an earlier cutoff's fit of the same run (WarmStarts); 0: never
    warm_iterations: int = Field(3, ge=0)
    regularization: float = Field(0.05, ge=0)
    alpha: float = Field(5.0, gt=0)  # confidence of a listen: alpha * listens of the pair
    n_recs: int = Field(50, ge=1)
    recommend_top_items: int = Field(0, ge=0)  # 0: score every track; N: only the N most played
    # searches over this many tracks or more go through a faiss IVF index (musicrec.models.ann); 0: never
    ann_min_items: int = Field(200_000, ge=0)
    ann_nprobe: int = Field(0, ge=0)  # clusters probed per query (of ~sqrt(tracks)); 0: 1/40 of them
    ann_lists: int = Field(0, ge=0)  # clusters of the index (k-means); 0: ~sqrt(tracks)
    blas_threads: int = Field(0, ge=0)  # 0: all cores
    seed: int = 42


class Similar(Section):
    k: int = Field(10, ge=1)
    min_item_listens: int = Field(5, ge=1)
    genre_weight: float = Field(1.0, ge=0)
    artist_weight: float = Field(2.0, ge=0)


class Ranker(Section):
    tunable = ("iterations", "depth", "learning_rate")

    iterations: int = Field(500, ge=1)
    depth: int = Field(4, ge=1)
    learning_rate: float = Field(0.03, gt=0)
    l2_leaf_reg: float = Field(3.0, gt=0)  # CatBoost's leaf regularisation (its default is 3)
    ensemble: int = Field(5, ge=1)  # models fitted with different seeds and held-out users, scores averaged
    ensemble_max_rows: int = Field(200_000, ge=0)  # more training rows than this: one model
    early_stopping_rounds: int = Field(50, ge=1)
    threads: int = Field(2, ge=1)
    # batches the inference builds and scores at once (threads), sharing its 50,000 users in memory
    inference_workers: int = Field(2, ge=1)
    label_days: int = Field(7, ge=1)
    windows: int = Field(16, ge=1)  # most label windows stacked back in time (each refits ALS)
    min_train_groups: int = Field(3000, ge=1)  # earlier windows are added until this many user lists
    n_candidates: int = Field(100, ge=1)  # ALS candidates per user
    recent_candidates: int = Field(50, ge=0)  # recently popular tracks per user
    similar_candidates: int = Field(50, ge=0)  # tracks similar to the user's last listens
    last_listens: int = Field(5, ge=1)  # how many last listens "similar to recent" looks at
    negatives_per_positive: int = Field(20, ge=1)
    max_train_users: int = Field(20000, ge=10)  # users sampled (seeded) to train the ranker
    valid_fraction: float = Field(0.2, ge=0, lt=1)  # users held out for early stopping
    n_recs: int = Field(50, ge=1)
    seed: int = 42


class Evaluation(Section):
    ks: tuple[int, ...] = (5, 10)
    online_history: int = Field(3, ge=1)
    # the session horizon of the online evaluation: the next session_length listens after the context
    session_length: int = Field(10, ge=1)
    artist_cap: int = Field(2, ge=1)  # tracks per artist of the capped lists the evaluation compares
    # users of the online evaluation (a per-user simulation of the service): a seeded sample past it; 0 = all
    online_max_users: int = Field(100_000, ge=0)
    seed: int = 42


class Blend(Section):
    """The learned blend of ``/recommendations``, fitted on the last ``window_days`` of the train period."""

    window_days: int = Field(14, ge=1)
    max_users: int = Field(5000, ge=10)  # validation users sampled (seeded)
    # iterations of the replay's ALS fits from scratch (its ranker frame's); 0 = [als] iterations
    als_iterations: int = Field(5, ge=0)
    offsets: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 40.0)
    online_weights: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)
    artist_weights: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.05)
    recency_decay: float = Field(0.5, gt=0, le=1)
    seed: int = 42


def _number_list(value: object) -> object:
    """``"16, 32, 64"`` (config.ini, env) -> ``["16", "32", "64"]``; anything else unchanged."""
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


# a grid in config.ini or an env variable is comma-separated numbers (not JSON)
Ints = Annotated[tuple[int, ...], NoDecode]
Floats = Annotated[tuple[float, ...], NoDecode]


class Tuning(Section):
    """``train`` chooses the ``tunable`` keys of ``[als]`` and ``[ranker]`` on a validation window at the
    end of the train period (never the test period); explicitly given keys stay fixed."""

    enabled: bool = True
    # the validation window: the last window_days of the train period, widened by window_days at a time
    # (at most max_window_steps times) until min_users users have history before it and listens in it
    window_days: int = Field(14, ge=1)
    max_window_steps: int = Field(4, ge=1)
    min_users: int = Field(100, ge=1)
    max_users: int = Field(5000, ge=10)  # validation users scored (a seeded sample)
    # estimated core-seconds on the reference machine (musicrec.models.tuning.als_cost, ranker_cost)
    budget_s: float = Field(30.0, gt=0)
    # a tuned point replaces the default only when the paired bootstrap interval at this level of its
    # validation NDCG@10 over the default's lies above 1 (users resampled, as the evaluation does)
    confidence: float = Field(0.9, gt=0, lt=1)
    als_factors: Ints = (16, 32, 64, 128)
    als_alpha: Floats = (2.0, 5.0, 10.0)
    als_regularization: Floats = (0.05, 0.5, 5.0)
    ranker_depth: Ints = (4, 6)
    ranker_learning_rate: Floats = (0.03, 0.06)
    ranker_iterations: Ints = (250, 500, 1000)
    # the ranker's points are fitted on at most this many training rows (a seeded sample of user lists)
    ranker_max_rows: int = Field(20_000, ge=1000)
    seed: int = 42

    _lists = field_validator("als_factors", "als_alpha", "als_regularization", "ranker_depth",
                             "ranker_learning_rate", "ranker_iterations", mode="before")(_number_list)


def fixed_keys(section: Section) -> tuple[str, ...]:
    """The ``tunable`` keys of ``section`` that were given explicitly (so tuning leaves them alone).

    >>> fixed_keys(Als(factors=16)), fixed_keys(Als(factors="auto", alpha=2)), fixed_keys(Als())
    (('factors',), ('alpha',), ())
    """
    return tuple(key for key in section.tunable if key in section.model_fields_set)


class Events(Section):
    backend: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: Path = Path("data/events.sqlite3")
    redis_url: str = "redis://127.0.0.1:6379/0"
    max_events_per_user: int = Field(10, ge=1)
    token: str = ""  # empty: /put and /get need no bearer token
    # the most a store call takes in all (Redis: connection wait and retry included; SQLite: both locks)
    # before a request answers 503 storage_unavailable
    timeout_s: float = Field(2.0, gt=0)
    # SQLite PRAGMA synchronous (WAL mode). FULL: an acknowledged put survives a power loss (the WAL is
    # fsynced at each commit); NORMAL: it survives a crash of the process, not of the OS; see
    # docs/deployment.md for what each costs per write
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = "FULL"


class Serving(Section):
    max_k: int = Field(1000, ge=1)
    online_history: int = Field(3, ge=1)
    timeout_s: float = Field(0.5, gt=0)
    # where `serve` and `python <service>_service.py` listen: empty = the host of the service's [urls] entry;
    # 0.0.0.0 = every interface
    host: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # true: 5xx error bodies and /ready show files, URLs and addresses (otherwise only in the log)
    debug: bool = False
    max_batch: int = Field(1000, ge=1)  # item ids per /similar_items/batch request
    # a request body over this many bytes is answered 413 body_too_large without being read; a URL (path
    # and query string) over max_url_bytes 414 url_too_long; headers over max_header_bytes 431
    max_body_bytes: int = Field(1_048_576, ge=1)
    max_url_bytes: int = Field(8192, ge=64)
    max_header_bytes: int = Field(16384, ge=256)
    # /recommendations: "learned" = the blend fitted by `train` (blend.json), "alternate" = the original's
    # offline-on-even, online-on-odd positions
    blend: Literal["learned", "alternate"] = "learned"
    # at most this many tracks of one artist in the first k of every personal and blended list; 0 = off
    max_per_artist: int = Field(0, ge=0)
    # how the recommendations service reaches events and similar tracks: "http" = the events and features
    # services (the default deployment); "direct" = the event store and its own copy of similar.parquet
    neighbours: Literal["http", "direct"] = "http"
    # seconds between two reads of the artifacts' CURRENT pointer (a new run is loaded beside the old one,
    # then swapped in); 0 = never poll (POST /admin/reload still works)
    reload_interval_s: float = Field(10.0, ge=0)
    # bearer token of POST /admin/reload; empty = the endpoint refuses every call
    admin_token: str = ""


class Runs(Section):
    """Versioned training runs (``<artifacts>/runs/<run-id>/`` and the ``CURRENT`` pointer)."""

    # runs kept after a switch: the current one plus keep - 1 rollback targets (runs newer than the current
    # one are never deleted); 0 = keep every run
    keep: int = Field(5, ge=0)


class Supervisor(Section):
    """How ``python -m musicrec serve`` restarts a service that exits after it was ready."""

    backoff_s: float = Field(1.0, gt=0)  # the first restart's delay, doubled after each crash
    max_backoff_s: float = Field(30.0, gt=0)
    # it gives up (and stops everything, exit code 1) after max_crashes crashes of one service in window_s
    max_crashes: int = Field(5, ge=1)
    window_s: float = Field(60.0, gt=0)


class S3(Section):
    """S3-compatible storage for ``s3://bucket/prefix`` artifact locations. Credentials are never read
    from here: boto3 takes them from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or its usual chain)."""

    endpoint_url: str = ""  # empty: AWS; https://storage.yandexcloud.net for Yandex Object Storage
    region: str = ""  # empty: boto3's default (AWS_DEFAULT_REGION); ru-central1 for Yandex
    addressing_style: Literal["auto", "path", "virtual"] = "auto"  # MinIO usually needs "path"
    cache_dir: Path = Path("data/s3-cache")  # where services and local_dir download artifacts
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(3, ge=1)  # botocore retries (standard mode), first attempt included


class Settings(BaseSettings):
    """All of musicrec's settings. Build with :func:`load_settings`, never at import time."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    urls: Urls = Urls()
    paths: Paths = Paths()
    prepare: Prepare = Prepare()
    split: Split = Split()
    popular: Popular = Popular()
    als: Als = Als()
    similar: Similar = Similar()
    ranker: Ranker = Ranker()
    evaluation: Evaluation = Evaluation()
    blend: Blend = Blend()
    tuning: Tuning = Tuning()
    events: Events = Events()
    serving: Serving = Serving()
    runs: Runs = Runs()
    supervisor: Supervisor = Supervisor()
    s3: S3 = S3()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _IniSource(settings_cls, _config_path()))


def _config_path() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}CONFIG", DEFAULT_CONFIG))


class _IniSource(PydanticBaseSettingsSource):
    """Reads ``config.ini``; surrounding quotes are stripped (the original's quoted URLs broke)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path):
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(self.path, encoding="utf-8")
        except configparser.Error as exc:
            raise ConfigError(f"{self.path}: cannot parse: {exc}") from exc
        data: dict[str, Any] = {}
        for section in parser.sections():
            values = {}
            for key, raw in parser.items(section):
                value = raw.strip().strip("\"'").strip()
                if value:  # an empty value means "use the default"
                    values[key] = value
            data[section] = values
        return data


def load_settings(**overrides: Any) -> Settings:
    """Load settings; a wrong value raises :class:`ConfigError` naming ``[section] key``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else loc[0]
        env = ENV_PREFIX + "__".join(p.upper() for p in loc[:2])  # not a list element's index
        found = f", found {err['input']!r}" if not isinstance(err.get("input"), dict) else ""
        lines.append(f"config {where}: {err['msg']}{found} (config.ini or {env})")
    return "; ".join(lines)

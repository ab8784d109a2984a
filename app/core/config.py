"""One typed Settings object, loaded once, failing fast on bad values (STYLE.md habit 1)."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

#: Default embedded database: a SQLite file in the working directory, no server needed.
DEFAULT_DATABASE_URL = "sqlite:///./frtrain.db"
#: MTurk requester endpoints (docs/MTURK.md §5). The sandbox is the default.
#: The largest id a 32-bit INTEGER primary key holds: ids in paths and bodies are bounded by it,
#: so an out-of-range id is a 422, never a database error.
MAX_ID = 2_147_483_647
MTURK_SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
MTURK_LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
MTURK_SANDBOX_SUBMIT = "https://workersandbox.mturk.com"
MTURK_LIVE_SUBMIT = "https://www.mturk.com"
#: Prolific's one (live, real-money) environment and its participant app (docs/PROLIFIC.md §1, §3).
PROLIFIC_LIVE_API = "https://api.prolific.com/api/v1"
PROLIFIC_LIVE_APP = "https://app.prolific.com"


#: Shortest SECRET_KEY accepted in production (characters; 32 random bytes as hex are 64).
MIN_SECRET_LENGTH = 32
SECRET_HINT = (
    f"SECRET_KEY must be at least {MIN_SECRET_LENGTH} random characters; make one with "
    'python -c "import secrets; print(secrets.token_hex(32))"'
)
#: Keys people type when asked for "a secret" (and this project's former development default).
_WEAK_KEYS = {"changeme", "change-me", "change_me", "secret", "password", "x", "test", "dev"}
DEV_KEY_FILENAME = "secret_key"


def weak_secret(key: str) -> str | None:
    """Why `key` is too weak to sign cookies and invite links, or None if it is acceptable."""
    lowered = key.strip().lower()
    if not lowered:
        return "SECRET_KEY is empty"
    if lowered in _WEAK_KEYS or "insecure" in lowered or "change" in lowered:
        return "SECRET_KEY is a well-known placeholder"
    if len(key) < MIN_SECRET_LENGTH:
        return f"SECRET_KEY has {len(key)} characters"
    if len(set(key)) < 8:
        return "SECRET_KEY repeats too few distinct characters"
    return None


def _config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "frtrain"


def dev_key_path(database_url: str) -> Path:
    """Where the development key lives: beside a SQLite file, else in the user's config dir."""
    try:
        url = make_url(database_url)
    except Exception:  # an unparsable URL fails later, with its own message
        url = None
    if url is not None and url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser().resolve()
            if path.parent.is_dir():
                return path.with_name(f"{path.name}.{DEV_KEY_FILENAME}")
    return _config_dir() / DEV_KEY_FILENAME


def load_or_create_dev_key(database_url: str) -> str:
    """A random development key, generated once and kept (mode 0600) for later runs. Several
    processes starting at once agree on one key: it is written to a private temporary file
    and then linked into place, which succeeds for exactly one of them."""
    path = dev_key_path(database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    key = path.read_text(encoding="ascii").strip()
    if weak_secret(key) is not None:
        raise ValueError(f"the development key in {path} is unusable; delete the file")
    return key


def _default_data_dir() -> Path:
    # $FRTRAIN_DATA_DIR or the per-user cache, filled from the package's copies on first use.
    # Imported here: every module reads the settings, only this default needs the data sets.
    from trainer.datasets import data_dir

    return data_dir()


class Settings(BaseSettings):
    """Every knob is an environment variable with a typed default."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    # Public base URL of this service (used in ExternalQuestion URLs and task links).
    public_base_url: str = "http://127.0.0.1:8000"
    # Secret used to sign admin sessions, worker invite tokens and task-page forms. Required
    # (and checked for strength) in production; left empty, development generates one and keeps
    # it beside the SQLite database (or in ~/.config/frtrain), tests use a fresh one per run.
    secret_key: str = ""

    data_dir: Path = Field(default_factory=_default_data_dir)
    artifact_dir: Path = Path("./artifacts")
    max_upload_bytes: int = 50 * 1024 * 1024
    # Bounds on what one uploaded table may decode to (a small Parquet file can hold millions
    # of rows): rows, columns, and bytes of decoded column data.
    max_upload_rows: int = 2_000_000
    max_upload_columns: int = 1_000
    max_decoded_bytes: int = 1024 * 1024 * 1024
    # HITs one publish request creates at most; the rest is published by calling again.
    max_hits_per_publish: int = 1_000

    # MTurk: sandbox unless all three live switches are set (docs/MTURK.md §5).
    mturk_sandbox: bool = True
    mturk_endpoint_url: str | None = None
    mturk_allow_live: bool = False
    mturk_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    # Prolific (docs/PROLIFIC.md): no sandbox exists, so only PROLIFIC_API_URL pointing at a local
    # emulator works unless PROLIFIC_ALLOW_LIVE, the project's allow_live and a spending cap are
    # all set. PROLIFIC_APP_URL is where participants complete (default: the emulator's own
    # origin when the API URL is not Prolific's, else app.prolific.com).
    prolific_api_url: str | None = None
    prolific_api_token: str | None = None
    prolific_app_url: str | None = None
    prolific_allow_live: bool = False
    # Fee rules for estimates and the ledger (docs/PROLIFIC.md §2: ~33.33% of rewards and bonuses,
    # VAT on the fee; current rates unconfirmed, so they are settings).
    prolific_fee_percent: float = 33.33
    prolific_vat_percent: float = 0.0
    # Workspace and project of the studies; None: the token's first workspace and a project
    # named "frtrain" (created on first use).
    prolific_workspace_id: str | None = None
    prolific_project_title: str = "frtrain"

    # Training-job worker.
    worker_lease_seconds: float = 30.0
    worker_heartbeat_seconds: float = 5.0
    worker_max_attempts: int = 3
    worker_poll_seconds: float = 1.0

    @model_validator(mode="after")
    def _resolve_secret(self) -> Settings:
        if self.environment == "production":
            self.check_production()
        elif not self.secret_key:
            self.secret_key = (
                secrets.token_hex(32)
                if self.environment == "test"
                else load_or_create_dev_key(self.database_url)
            )
        return self

    def check_production(self) -> None:
        """Refuse a missing or weak SECRET_KEY in production, saying how to make a good one."""
        if self.environment == "production":
            problem = weak_secret(self.secret_key)
            if problem is not None:
                raise ValueError(f"{problem}: {SECRET_HINT}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production()
    return settings

"""One typed Settings object, loaded once, failing fast on bad values (STYLE.md habit 1)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Default embedded database: a SQLite file in the working directory, no server needed.
DEFAULT_DATABASE_URL = "sqlite:///./frtrain.db"
#: MTurk requester endpoints (MTURK.md §1). The sandbox is the default.
MTURK_SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
MTURK_LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
MTURK_SANDBOX_SUBMIT = "https://workersandbox.mturk.com"
MTURK_LIVE_SUBMIT = "https://www.mturk.com"


def _default_data_dir() -> Path:
    # $FRTRAIN_DATA_DIR or the per-user cache, filled from the package's copies on first use.
    from trainer.datasets import data_dir

    return data_dir()


class Settings(BaseSettings):
    """Every knob is an environment variable with a typed default."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    # Public base URL of this service (used in ExternalQuestion URLs and task links).
    public_base_url: str = "http://127.0.0.1:8000"
    # Secret used to sign worker invite tokens and task-page forms.
    secret_key: str = "dev-insecure-secret-change-me"

    data_dir: Path = Field(default_factory=_default_data_dir)
    artifact_dir: Path = Path("./artifacts")
    max_upload_bytes: int = 50 * 1024 * 1024

    # MTurk: sandbox unless all three live switches are set (issue 4 §1).
    mturk_sandbox: bool = True
    mturk_endpoint_url: str | None = None
    mturk_allow_live: bool = False
    mturk_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    # Training-job worker.
    worker_lease_seconds: float = 30.0
    worker_heartbeat_seconds: float = 5.0
    worker_max_attempts: int = 3
    worker_poll_seconds: float = 1.0

    def check_production(self) -> None:
        """Refuse development-only secrets outside development."""
        if self.environment == "production" and self.secret_key.startswith("dev-insecure"):
            raise ValueError("SECRET_KEY must be set in production")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production()
    return settings

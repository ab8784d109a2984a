"""One typed Settings object, loaded once, failing fast on bad values (STYLE.md habit 1)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Default embedded database: a SQLite file in the working directory, no server needed.
DEFAULT_DATABASE_URL = "sqlite:///./frtrain.db"
#: MTurk requester endpoints (docs/MTURK.md §5). The sandbox is the default.
MTURK_SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
MTURK_LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
MTURK_SANDBOX_SUBMIT = "https://workersandbox.mturk.com"
MTURK_LIVE_SUBMIT = "https://www.mturk.com"
#: Prolific's one (live, real-money) environment and its participant app (docs/PROLIFIC.md §1, §3).
PROLIFIC_LIVE_API = "https://api.prolific.com/api/v1"
PROLIFIC_LIVE_APP = "https://app.prolific.com"


def _default_data_dir() -> Path:
    # ../shared/data relative to the project root, where the paper's data sets live here.
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


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

    def check_production(self) -> None:
        """Refuse development-only secrets outside development."""
        if self.environment == "production" and self.secret_key.startswith("dev-insecure"):
            raise ValueError("SECRET_KEY must be set in production")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production()
    return settings

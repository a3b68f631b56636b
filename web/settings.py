"""Settings from the environment, read once in the app factory (never at import time)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str | None
    public_base_url: str | None
    program_file: str | None
    qr_dir: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{Path.cwd() / 'loyalty.db'}",
            secret_key=env.get("SECRET_KEY"),
            public_base_url=env.get("PUBLIC_BASE_URL"),
            program_file=env.get("LOYALTY_PROGRAM_FILE"),
            qr_dir=Path(env.get("LOYALTY_QR_DIR") or Path.cwd() / "loyalty-qr"),
        )

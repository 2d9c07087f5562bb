"""What cgan-serve was started with, beyond the model; the defaults of its options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """What the server was started with, beyond the model."""

    model_name: str
    max_batch: int = 256
    max_delay_ms: float = 2.0
    max_queue: int = 1024
    max_images: int = 256
    api_key: str | None = None

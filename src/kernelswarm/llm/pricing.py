"""Cost of a request from its token counts and the model's prices in the models file."""

from __future__ import annotations

from kernelswarm.config import ModelConfig


def cost_usd(config: ModelConfig, tokens_in: int, tokens_out: int) -> float:
    """USD for one request; a price that is not given counts as zero (local servers cost nothing)."""
    price_in = config.price_in_per_mtok or 0.0
    price_out = config.price_out_per_mtok or 0.0
    return (tokens_in * price_in + tokens_out * price_out) / 1_000_000


def has_prices(config: ModelConfig) -> bool:
    """Whether a budget can be enforced for this model at all."""
    return config.price_in_per_mtok is not None and config.price_out_per_mtok is not None

"""Factory for the asyncio Redis client."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.settings import Settings


def create_redis(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set and no stack.env was found; run `teppan up` or set it.")
    return Redis.from_url(settings.redis_url, decode_responses=False)

"""Ingest's Redis adapter: event_id de-duplication (SET NX with a TTL) and per-conversation state.

An event is claimed in two steps so a crash never loses it: the claim (SET NX) records the turn
number it was given, and only after the broker confirmed the publish is it marked published. A
redelivery of a claimed but unpublished event is republished with the same turn number; a
redelivery of a published event is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from schemas.events import ChatMessage
from services.ingest.core import ConversationPosition

# KEYS[1] event key, KEYS[2] conversation hash (or '' for events without conversation state).
# ARGV: ttl seconds, role, requested_slots JSON, is_correction ('1' or '0').
# Returns 'P' (already published), or 'N|turn|corrections|slots' (new) / 'A|...' (claimed before).
CLAIM_SCRIPT = """
local claimed = redis.call('SET', KEYS[1], 'pending', 'NX', 'EX', ARGV[1])
if not claimed then
  local existing = redis.call('GET', KEYS[1])
  if existing == 'P' then return 'P' end
  if existing and string.sub(existing, 1, 2) == 'A|' then return existing end
  -- 'pending' from a crash inside this script is impossible (scripts are atomic), so this is a
  -- claim of an event without conversation state.
  return 'A|0|0|[]'
end
if KEYS[2] == '' then
  redis.call('SET', KEYS[1], 'A|0|0|[]', 'EX', ARGV[1])
  return 'N|0|0|[]'
end
local turn = redis.call('HINCRBY', KEYS[2], 'turns', 1) - 1
local slots = redis.call('HGET', KEYS[2], 'requested_slots') or '[]'
local corrections = tonumber(redis.call('HGET', KEYS[2], 'corrections') or '0')
if ARGV[4] == '1' then corrections = redis.call('HINCRBY', KEYS[2], 'corrections', 1) end
if ARGV[2] == 'ai' then redis.call('HSET', KEYS[2], 'requested_slots', ARGV[3]) end
redis.call('EXPIRE', KEYS[2], ARGV[1])
local position = turn .. '|' .. corrections .. '|' .. slots
redis.call('SET', KEYS[1], 'A|' .. position, 'EX', ARGV[1])
return 'N|' .. position
"""

ClaimStatus = Literal["new", "republish", "duplicate"]


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    position: ConversationPosition


def event_key(event_id: object) -> str:
    return f"teppan:event:{event_id}"


def conversation_key(conversation_id: object) -> str:
    return f"teppan:conversation:{conversation_id}"


def _parse_claim(reply: bytes | str) -> Claim:
    text = reply.decode() if isinstance(reply, bytes) else reply
    if text == "P":
        return Claim("duplicate", ConversationPosition(0, 0, []))
    flag, turn, corrections, slots = text.split("|", 3)
    return Claim(
        "new" if flag == "N" else "republish",
        ConversationPosition(int(turn), int(corrections), json.loads(slots)),
    )


class IngestState:
    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._claim = redis.register_script(CLAIM_SCRIPT)

    async def claim(self, items: Sequence[tuple[object, ChatMessage | None, bool]]) -> list[Claim]:
        """Claim (event_id, chat message or None, is_correction) items in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id, message, is_correction in items:
                if message is None:
                    keys = [event_key(event_id), ""]
                    args: list[str | int] = [self._ttl, "", "[]", "0"]
                else:
                    keys = [event_key(event_id), conversation_key(message.conversation_id)]
                    args = [
                        self._ttl,
                        message.role,
                        json.dumps(message.requested_slots),
                        "1" if is_correction else "0",
                    ]
                await self._claim(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        return [_parse_claim(reply) for reply in replies]

    async def mark_published(self, event_ids: Sequence[object]) -> None:
        if not event_ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.set(event_key(event_id), "P", keepttl=True)
            await pipe.execute()

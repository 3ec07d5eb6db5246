"""Rows for dataset and learning-loop tests, written straight into a (scratch) database with parameterised SQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

# The customer the seeded conversations belong to unless a test says otherwise.
CUSTOMER = 41


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Seeder:
    """Plain parameterised inserts into the conversation tables."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def message(
        self,
        conversation: uuid.UUID,
        turn: int,
        when: datetime,
        text: str,
        *,
        role: str = "customer",
        customer_id: int | None = CUSTOMER,
    ) -> uuid.UUID:
        event_id = uuid.uuid4()
        assistant = json.dumps({"suggested_upsells": ["lobster_tail"]}) if role == "ai" else None
        await self.connection.execute(
            "INSERT INTO messages (event_id, conversation_id, customer_id, role, text, turn_index, occurred_at,"
            " assistant) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
            event_id,
            conversation,
            customer_id,
            role,
            text,
            turn,
            when,
            assistant,
        )
        return event_id

    async def analysis(
        self,
        message: uuid.UUID,
        conversation: uuid.UUID,
        when: datetime,
        *,
        path: str,
        tone: str,
        intent: str,
        confidence: float,
        sentiment: str = "neutral",
        entities: dict[str, Any] | None = None,
    ) -> None:
        document = {
            "tone": tone,
            "intent": intent,
            "sentiment": sentiment,
            "confidence": confidence,
            "path": path,
        }
        await self.connection.execute(
            "INSERT INTO message_analyses (message_event_id, analysis_event_id, conversation_id, path,"
            " detected_tone, detected_intent, entities_extracted, confidence, analysis, occurred_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10)",
            message,
            uuid.uuid4(),
            conversation,
            path,
            tone,
            intent,
            json.dumps(entities or {}),
            confidence,
            json.dumps(document),
            when,
        )

    async def label(
        self,
        message: uuid.UUID,
        conversation: uuid.UUID,
        field: str,
        value: Any,
        labeller: str,
        when: datetime,
        entity_name: str | None = None,
    ) -> None:
        await self.connection.execute(
            "INSERT INTO labels (event_id, message_event_id, conversation_id, field, entity_name, value, labeller,"
            " occurred_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
            uuid.uuid4(),
            message,
            conversation,
            field,
            entity_name,
            json.dumps(value),
            labeller,
            when,
        )

    async def outcome(
        self,
        conversation: uuid.UUID,
        when: datetime,
        *,
        booked: bool,
        offered: list[str],
        accepted: list[str],
        customer_id: int | None = CUSTOMER,
        total_value: str | None = None,
    ) -> None:
        await self.connection.execute(
            "INSERT INTO outcomes (event_id, conversation_id, customer_id, booked, total_value, offered_upsells,"
            " accepted_upsells, occurred_at) VALUES ($1, $2, $3, $4, $5::numeric, $6::jsonb, $7::jsonb, $8)",
            uuid.uuid4(),
            conversation,
            customer_id,
            booked,
            total_value,
            json.dumps(offered),
            json.dumps(accepted),
            when,
        )

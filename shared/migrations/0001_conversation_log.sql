-- The conversation logger's tables. `conversation_logs` is exactly seed document 000's DDL;
-- `messages` and `outcomes` are the per-event tables it is rebuilt from, which makes every write
-- idempotent on event_id.

CREATE TABLE conversation_logs (
    id UUID PRIMARY KEY,
    timestamp TIMESTAMPTZ NOT NULL,
    customer_id INTEGER,
    conversation_data JSONB NOT NULL,
    outcome_data JSONB,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_conv_timestamp ON conversation_logs(timestamp);
CREATE INDEX idx_conv_outcome ON conversation_logs((outcome_data->>'booked'));
CREATE INDEX idx_conv_customer ON conversation_logs(customer_id);

CREATE TABLE messages (
    event_id UUID PRIMARY KEY,
    conversation_id UUID NOT NULL,
    customer_id INTEGER,
    role TEXT NOT NULL CHECK (role IN ('customer', 'ai', 'human_agent')),
    text TEXT NOT NULL,
    channel TEXT,
    turn_index INTEGER NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    -- clock_timestamp(), not now(): the moment this row was written, not when its transaction began.
    logged_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- AI-only fields: tone_used, suggested_upsells, requested_slots, model, provider, prompt_version,
    -- tokens_in, tokens_out, latency_ms.
    assistant JSONB,
    experiments JSONB NOT NULL DEFAULT '{}'::jsonb,
    context JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX idx_messages_conversation ON messages(conversation_id, turn_index);
CREATE INDEX idx_messages_occurred ON messages(occurred_at);

-- One analysis per message. Kept apart from `messages` because it may arrive first; an ML-path
-- analysis replaces a fast-path one, never the other way round.
CREATE TABLE message_analyses (
    message_event_id UUID PRIMARY KEY,
    analysis_event_id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    path TEXT NOT NULL CHECK (path IN ('fast', 'ml')),
    detected_tone TEXT,
    detected_intent TEXT,
    entities_extracted JSONB,
    confidence DOUBLE PRECISION,
    escalate BOOLEAN NOT NULL DEFAULT false,
    latency_ms DOUBLE PRECISION,
    analysis JSONB NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX idx_analyses_conversation ON message_analyses(conversation_id);

CREATE TABLE outcomes (
    event_id UUID PRIMARY KEY,
    conversation_id UUID NOT NULL,
    customer_id INTEGER,
    booked BOOLEAN NOT NULL,
    booking_id TEXT,
    total_value NUMERIC(12, 2),
    offered_upsells JSONB NOT NULL DEFAULT '[]'::jsonb,
    accepted_upsells JSONB NOT NULL DEFAULT '[]'::jsonb,
    occurred_at TIMESTAMPTZ NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX idx_outcomes_conversation ON outcomes(conversation_id, occurred_at);

-- `refresh_conversation_logs`, which rebuilds the seed-shaped rows from these tables, is defined in
-- 0003, once the survey and label tables it also reads exist (0002).

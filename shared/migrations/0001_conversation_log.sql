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

-- Rebuilds the seed-shaped rows of the given conversations from `messages` and `outcomes`.
-- Rebuilding rather than appending is what keeps a redelivered event from adding a second array entry.
CREATE FUNCTION refresh_conversation_logs(conversation_ids UUID[]) RETURNS void
LANGUAGE sql AS $$
WITH touched AS (
    SELECT DISTINCT id FROM unnest(conversation_ids) AS id
),
conversation_messages AS (
    SELECT
        m.conversation_id AS id,
        min(m.occurred_at) AS started_at,
        (array_agg(m.customer_id ORDER BY m.turn_index) FILTER (WHERE m.customer_id IS NOT NULL))[1] AS customer_id,
        jsonb_agg(
            CASE WHEN m.role = 'ai' THEN jsonb_build_object(
                'role', m.role,
                'content', m.text,
                'tone_used', m.assistant -> 'tone_used',
                'suggested_upsells', COALESCE(m.assistant -> 'suggested_upsells', '[]'::jsonb),
                'event_id', m.event_id,
                'turn_index', m.turn_index,
                'occurred_at', m.occurred_at)
            ELSE jsonb_build_object(
                'role', m.role,
                'content', m.text,
                'detected_tone', a.detected_tone,
                'detected_intent', a.detected_intent,
                'entities_extracted', a.entities_extracted,
                'confidence', a.confidence,
                'event_id', m.event_id,
                'turn_index', m.turn_index,
                'occurred_at', m.occurred_at)
            END
            ORDER BY m.turn_index, m.occurred_at, m.event_id
        ) AS messages,
        avg((m.assistant ->> 'latency_ms')::double precision) FILTER (WHERE m.role = 'ai') AS response_time_ms,
        count(*) AS message_count,
        (array_agg(m.experiments ORDER BY m.turn_index DESC))[1] AS experiments
    FROM messages m
    JOIN touched t ON t.id = m.conversation_id
    LEFT JOIN message_analyses a ON a.message_event_id = m.event_id
    GROUP BY m.conversation_id
),
latest_outcome AS (
    SELECT DISTINCT ON (o.conversation_id) o.*
    FROM outcomes o
    JOIN touched t ON t.id = o.conversation_id
    ORDER BY o.conversation_id, o.occurred_at DESC, o.event_id
),
rebuilt AS (
    SELECT
        t.id,
        COALESCE(cm.started_at, lo.occurred_at) AS started_at,
        COALESCE(cm.customer_id, lo.customer_id) AS customer_id,
        cm.messages,
        cm.response_time_ms,
        cm.message_count,
        cm.experiments,
        lo.conversation_id IS NOT NULL AS has_outcome,
        lo.booked,
        lo.booking_id,
        lo.total_value,
        lo.accepted_upsells,
        lo.offered_upsells
    FROM touched t
    LEFT JOIN conversation_messages cm ON cm.id = t.id
    LEFT JOIN latest_outcome lo ON lo.conversation_id = t.id
    WHERE cm.id IS NOT NULL OR lo.conversation_id IS NOT NULL
)
INSERT INTO conversation_logs (id, timestamp, customer_id, conversation_data, outcome_data, metadata)
SELECT
    r.id,
    r.started_at,
    r.customer_id,
    jsonb_build_object(
        'id', r.id,
        'timestamp', r.started_at,
        'customer_id', r.customer_id,
        'messages', COALESCE(r.messages, '[]'::jsonb),
        'performance_metrics', jsonb_build_object(
            'response_time_ms', r.response_time_ms,
            'tone_accuracy', NULL,
            'customer_satisfaction', NULL)),
    CASE WHEN r.has_outcome THEN jsonb_build_object(
        'booked', r.booked,
        'booking_id', r.booking_id,
        'total_value', r.total_value,
        'accepted_upsells', r.accepted_upsells,
        'offered_upsells', r.offered_upsells)
    END,
    jsonb_build_object(
        'message_count', COALESCE(r.message_count, 0),
        'experiments', COALESCE(r.experiments, '{}'::jsonb))
FROM rebuilt r
ON CONFLICT (id) DO UPDATE SET
    timestamp = EXCLUDED.timestamp,
    customer_id = EXCLUDED.customer_id,
    conversation_data = EXCLUDED.conversation_data,
    outcome_data = EXCLUDED.outcome_data,
    metadata = EXCLUDED.metadata;
$$;

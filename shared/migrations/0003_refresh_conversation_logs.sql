-- Rebuilds the seed-shaped `conversation_logs` rows of the given conversations from `messages`,
-- `message_analyses`, `outcomes`, `surveys` and `labels`. Rebuilding rather than appending is what keeps
-- a redelivered event from adding a second array entry. performance_metrics carries
-- customer_satisfaction (the mean survey rating, 1-5) and tone_accuracy (the share of human tone labels
-- the detected tone matched). Whoever writes any of those tables rebuilds the conversation's row.

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
feedback AS (
    SELECT
        t.id,
        (SELECT avg(s.rating)::double precision FROM surveys s WHERE s.conversation_id = t.id) AS satisfaction,
        (SELECT avg(((l.value #>> '{}') = a.detected_tone)::int)::double precision
           FROM labels l JOIN message_analyses a ON a.message_event_id = l.message_event_id
          WHERE l.conversation_id = t.id AND l.field = 'tone') AS tone_accuracy
    FROM touched t
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
        lo.offered_upsells,
        f.satisfaction,
        f.tone_accuracy
    FROM touched t
    JOIN feedback f ON f.id = t.id
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
            'tone_accuracy', r.tone_accuracy,
            'customer_satisfaction', r.satisfaction)),
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

-- Analytics tables (issue 4): edge cases, the prediction log, metrics windows with their sketches,
-- LLM usage for costs, surveys, labels, and the alert workers' persisted state.
-- Every table written from the stream is keyed by an event id (or by conversation and reason), so a
-- redelivered event inserts nothing: writes use ON CONFLICT DO NOTHING.

-- One row per conversation and reason, however often the messages that raised it are redelivered.
CREATE TABLE edge_cases (
    conversation_id UUID NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN (
        'low_confidence', 'no_entities_found', 'multiple_corrections',
        'escalated_to_human', 'customer_expressed_frustration')),
    -- The message whose turn or analysis first raised this reason.
    event_id UUID NOT NULL,
    customer_id INTEGER,
    -- The event time of that message, so replays flag at the time things happened.
    flagged_at TIMESTAMPTZ NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (conversation_id, reason)
);

CREATE INDEX idx_edge_cases_flagged ON edge_cases(flagged_at);

-- The customer text an analysis was made on; turns and analyses arrive on different topics, in either order.
CREATE TABLE prediction_inputs (
    message_event_id UUID PRIMARY KEY,
    conversation_id UUID NOT NULL,
    user_text TEXT NOT NULL,  -- phones and e-mails already scrubbed
    requested_slots JSONB NOT NULL DEFAULT '[]'::jsonb,
    occurred_at TIMESTAMPTZ NOT NULL
);

-- One row per analysis (seed document 004's record once its input is known); `written_at` is set when the
-- record was appended to the daily JSONL file, so a redelivery never appends it again.
CREATE TABLE predictions (
    analysis_event_id UUID PRIMARY KEY,
    message_event_id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    analysis JSONB NOT NULL,
    record JSONB,
    written_at TIMESTAMPTZ
);

CREATE INDEX idx_predictions_message ON predictions(message_event_id);
CREATE INDEX idx_predictions_pending ON predictions(message_event_id) WHERE written_at IS NULL;

-- One-minute windows as MetricsWindow.to_json(): additive counters plus serialised DDSketches, so a day
-- (or several replicas' work) is a merge of windows, never an average of percentiles.
CREATE TABLE metrics_windows (
    window_start TIMESTAMPTZ PRIMARY KEY,
    window_end TIMESTAMPTZ NOT NULL,
    state JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- Every event already counted into a window: claimed in the same transaction that merges it in.
CREATE TABLE metrics_events (
    event_id UUID PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL
);

-- What the metrics worker knows of a conversation when its outcome arrives.
CREATE TABLE metrics_conversations (
    conversation_id UUID PRIMARY KEY,
    turns INTEGER NOT NULL DEFAULT 0,
    human_handoff BOOLEAN NOT NULL DEFAULT false
);

-- Token usage of LLM calls: from AI messages (source 'message') and LLM ServiceCalls ('service_call').
-- Priced when read, from the editable price table, so a corrected price reprices history.
CREATE TABLE llm_usage (
    event_id UUID PRIMARY KEY,
    conversation_id UUID NOT NULL,
    customer_id INTEGER,
    source TEXT NOT NULL CHECK (source IN ('message', 'service_call')),
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    ok BOOLEAN NOT NULL DEFAULT true,
    occurred_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX idx_llm_usage_occurred ON llm_usage(occurred_at);
CREATE INDEX idx_llm_usage_conversation ON llm_usage(conversation_id, source);

CREATE TABLE surveys (
    event_id UUID PRIMARY KEY,
    conversation_id UUID NOT NULL,
    customer_id INTEGER,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    understood BOOLEAN,
    tone_appropriate BOOLEAN,
    free_text TEXT,
    occurred_at TIMESTAMPTZ NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX idx_surveys_conversation ON surveys(conversation_id, occurred_at);

-- Surveys joined to their conversations (a survey may arrive before its conversation is logged).
CREATE VIEW conversation_surveys AS
SELECT s.*, c.timestamp AS conversation_started_at, c.outcome_data, c.metadata -> 'experiments' AS experiments
FROM surveys s
LEFT JOIN conversation_logs c ON c.id = s.conversation_id;

-- Human corrections (labels.v1): the readiness count of labelled tone examples and model accuracy.
CREATE TABLE labels (
    event_id UUID PRIMARY KEY,
    message_event_id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    field TEXT NOT NULL,
    entity_name TEXT,
    value JSONB,
    labeller TEXT,
    occurred_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX idx_labels_message ON labels(message_event_id, field);

-- Persisted state of the alert rules (episodes, cooldowns, budget notices, the weekly job), so a restart
-- does not page again.
CREATE TABLE alert_state (
    name TEXT PRIMARY KEY,
    state JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- Alerts the alerting worker has sent (or logged), by the Alert's event_id: a redelivery sends nothing.
CREATE TABLE alerts_sent (
    event_id UUID PRIMARY KEY,
    rule TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    sentry_event_id TEXT,
    sent_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

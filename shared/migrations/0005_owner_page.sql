-- The owner's page (`/api/`): rollups that keep a month's figures to a few hundred rows, and the indexes its
-- queries use. Every index here serves one query in services/analytics/api/queries.py.

-- The one-minute windows added up per UTC hour and per UTC day, written by the metrics worker in the same
-- transaction as the minute windows (MetricsWindow.to_json(), same columns as metrics_windows): the overview
-- reads 24 hours or 30 days, never 43,200 minutes. Windows stored before this migration are rolled up by
-- services.analytics.metrics.store.rebuild_rollups.
CREATE TABLE metrics_hourly_windows (
    window_start TIMESTAMPTZ PRIMARY KEY,
    window_end TIMESTAMPTZ NOT NULL,
    state JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE metrics_daily_windows (
    window_start TIMESTAMPTZ PRIMARY KEY,
    window_end TIMESTAMPTZ NOT NULL,
    state JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- The tokens the costs report prices, per UTC hour, provider and model (its rule: a conversation's LLM
-- ServiceCalls, else its AI messages), kept up to date by the metrics worker; priced when read.
CREATE TABLE llm_usage_hourly (
    hour_start TIMESTAMPTZ NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    tokens_in BIGINT NOT NULL DEFAULT 0,
    tokens_out BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour_start, provider, model)
);

INSERT INTO llm_usage_hourly (hour_start, provider, model, tokens_in, tokens_out)
SELECT date_trunc('hour', u.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', u.provider, u.model,
       sum(u.tokens_in), sum(u.tokens_out)
FROM llm_usage u
WHERE u.source = 'service_call' OR NOT EXISTS (
    SELECT 1 FROM llm_usage c WHERE c.conversation_id = u.conversation_id AND c.source = 'service_call')
GROUP BY 1, 2, 3;

-- Conversation search: a word of a message's text (the 'simple' configuration: words as typed, no stemming).
CREATE INDEX idx_messages_text_search ON messages USING gin (to_tsvector('simple', text));
-- A customer's conversations, newest first.
CREATE INDEX idx_conv_customer_timestamp ON conversation_logs (customer_id, timestamp DESC);
-- The labelling queue: the least confident analyses first, and edge cases of one reason, newest first.
CREATE INDEX idx_analyses_confidence ON message_analyses (confidence) WHERE confidence IS NOT NULL;
CREATE INDEX idx_analyses_occurred ON message_analyses (occurred_at);
CREATE INDEX idx_edge_cases_reason ON edge_cases (reason, flagged_at DESC);
-- Labels by labeller (the queue leaves out what a labeller has done) and by conversation (its turns).
CREATE INDEX idx_labels_labeller ON labels (labeller, field, message_event_id);
CREATE INDEX idx_labels_conversation ON labels (conversation_id);
-- The newest alerts.
CREATE INDEX idx_alerts_fired ON alerts_sent (fired_at DESC);

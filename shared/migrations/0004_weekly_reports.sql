-- What the weekly job (`teppan report weekly --store`) saw: the week's KPIs and the readiness report,
-- kept so that both can be drawn over time. One row per UTC day the job ran on; a rerun that day replaces
-- it. Aggregates only: no customer text, no ids.
CREATE TABLE weekly_reports (
    report_date DATE PRIMARY KEY,
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    kpis JSONB NOT NULL,
    readiness JSONB NOT NULL,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

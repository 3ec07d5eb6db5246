"""The `alerting` worker kind's room: pages each fired alert once, to Sentry or the log."""

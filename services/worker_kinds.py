"""The worker kinds `teppan worker KIND` can run; `teppan up` starts one process per kind.

Each kind is its own Kafka consumer group, named `teppan-<kind>`, so scaling out is starting
more processes of one kind.
"""

WORKER_KINDS: tuple[str, ...] = ("ingest", "logger")

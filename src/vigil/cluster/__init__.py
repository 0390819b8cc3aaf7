"""Cluster mode: several processes on PostgreSQL (the system of record) and NATS JetStream (the
durable log and the bus). Edges (`vigil edge`) take reports and people's requests; workers (`vigil
worker`) own partitions of the log and run the engine for them. docs/scale-out.md tells the whole
story; `partitions.py` is the pure placement, `log.py` the log, `edge.py` and `worker.py` the two
roles, `envelope.py`, `steps.py` and `bus.py` what travels between them, `roles.py` the processes,
`watch.py` the operators' view of the cluster, `figures.py` a worker's own metrics."""

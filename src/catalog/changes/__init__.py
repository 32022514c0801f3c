"""The change log: every committed write names the catalog nodes it changed, in commit order.

`recorder.py` appends the names inside the writing transaction (session events); consumers
follow the log by id at their own pace: the graph projection (graph/worker.py) and each
replica's search index (search/projector.py). `repository.py` holds the log's SQL: the
append (behind its advisory lock), reading after a position, durable positions, the retention
prune.
"""

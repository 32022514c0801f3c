"""idempotency: `Idempotency-Key` on writes. store.py owns the table of keys and their stored
answers (claim, complete, expire), running its statements through repository.py;
middleware.py replays a stored answer or runs the request once, committing the key with the
request's own writes."""

"""core: self-contained helpers every other package may use (errors and their envelope,
logging, retries and backoff, the circuit breaker, background tasks, ids, time and the clock,
route templates). It imports nothing of the catalog but `catalog.settings`."""

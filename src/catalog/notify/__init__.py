"""Notifications: people subscribe to catalog events (changes/events.py) and hear of them by
signed webhook, Slack or email.

- `schemas.py`, `repository.py`, `service.py`: subscriptions, their API's rules, replay;
- `audience.py`: which subscriptions an event reaches (scope, event types, what the
  subscriber may see);
- `targets.py`: the SSRF guard on webhook addresses; `signing.py`: the signature header;
- `channels.py`: what each channel sends; `dispatcher.py`: the background worker that fans
  events out to delivery rows and sends them, with retries, breakers and a dead-letter state.
"""

"""Conditional requests (RFC 9110 §13), in one place: how an ETag is made and compared.

- `etags`: the one hash behind every ETag (`etag_of`), `If-None-Match` / `If-Match`
  comparison, the `IfMatch` header of PATCH and DELETE routes and `check_if_match`, which
  services call before changing a row.
- `middleware`: `ConditionalMiddleware`, which tags 200 JSON answers to GET and HEAD and
  answers 304 to a client that already holds the representation.
- `repository`: the one statement preconditions need, the row lock behind `check_if_match`.
"""

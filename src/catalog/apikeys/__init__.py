"""API keys, the whole of them: the credential format (`keys`), what the admin routes under
`/api/admin/api-keys` (catalog.api.apikeys) call (`service` > `repository` > `schemas`), and
the check at request time the authenticator calls (`verify`)."""

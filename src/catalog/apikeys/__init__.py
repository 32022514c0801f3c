"""API keys, the whole of them: the credential format (`keys`), the admin routes under
`/api/admin/api-keys` (`router` > `service` > `repository` > `schemas`) and the check at request
time the authenticator calls (`verify`)."""

"""kit: the building blocks of domain packages, free of any one domain: the repository and
service bases, the audit trail a service writes, paging, field projection, batch bodies,
request/response model bases."""

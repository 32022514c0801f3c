"""api: the HTTP routes, one module per domain (products, registry, tags, ...). A route reads
the request (validated by the domain's schemas), calls the domain's service and shapes the
answer; business rules stay in the services. Imports the domains and catalog.server."""

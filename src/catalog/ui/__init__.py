"""The web UI under /ui: server-rendered pages (Jinja2) with a little plain JavaScript.

Pages call the domain services directly, with the same actor and role dependencies as the
API routes, so a page never shows what the API would refuse. Layout: `web.py` (rendering,
security headers, CSRF, the HTML error page), `assets.py` (static files with content hashes),
one module per area (`home.py`, `search.py`, `products.py`, ...), `routers.py` (the list).
"""

"""The web console at ``/ui``: server-rendered pages (Jinja2) whose small ES modules call the
same /v1 REST API as every other client, with the session cookie and its CSRF token."""

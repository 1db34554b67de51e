"""The REST API (FastAPI). Build it with ``facegate.api.app.create_app(settings)``.

Nothing is imported here, so ``facegate.api.views`` (plain dicts, no FastAPI) stays cheap
for the CLI.
"""

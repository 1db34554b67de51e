"""Who is calling and what they may do: users and roles, login sessions with CSRF tokens,
scoped API keys, the login limiter (docs/security.md). The API asks ``AccessService``; the
records live in the gallery store (``storage/access_records.py``)."""

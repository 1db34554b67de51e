"""Settings section of biometric-data governance (``FACEGATE_GOVERNANCE__*``, docs/governance.md):
consent, identity lifetime, the retention job and erasure. Built into ``config.Settings``.
Imports nothing from facegate."""

from __future__ import annotations

from pydantic import BaseModel, Field


class GovernanceSettings(BaseModel):
    #: Refuse to create an identity, or enrol a face to one, without a ``consent`` record
    #: (422 CONSENT_REQUIRED).
    require_consent: bool = False
    #: Days an identity lives when it is created without ``expires_at`` (0: forever). The
    #: retention job erases it once it has expired.
    default_lifetime_days: float = Field(default=0.0, ge=0.0, le=36_500.0)
    #: The retention job runs this often on every replica (on PostgreSQL one replica per
    #: period does the work, under an advisory lock); 0 turns the job off (``facegate
    #: retention run`` still works).
    retention_every_s: float = Field(default=3600.0, ge=0.0, le=7 * 86_400.0)
    #: PostgreSQL: ``VACUUM`` the tables an erasure touched right after it (the deleted row
    #: versions are then reclaimed, not just hidden; docs/governance.md says what that holds).
    vacuum_after_erasure: bool = True

"""Consent, lifetime, erasure receipts and a person's own export (docs/governance.md).

``Terms`` applies the server's governance settings to a new identity (consent required?
default lifetime) and to an enrolment. ``receipt`` is what an erasure answers and audits:
counts and times only, never the person's name. ``export_zip`` is a person's own data for a
subject access request (GDPR Art. 15): their record, consent, enrolment times and chips.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from facegate.config_governance import GovernanceSettings
from facegate.domain import Consent, Identity
from facegate.errors import ConsentRequiredError
from facegate.storage.base import UNSET, GalleryStore, new_identity, utcnow
from facegate.storage.identity_links import RECEIPT_COUNTS, ErasedFaces

#: The export's layout version (``manifest.json`` ``format_version``).
EXPORT_FORMAT = "facegate-person"


@dataclass(frozen=True, slots=True)
class Terms:
    require_consent: bool = False
    default_lifetime_days: float = 0.0

    @classmethod
    def of(cls, settings: GovernanceSettings | None) -> Terms:
        if settings is None:
            return cls()
        return cls(settings.require_consent, settings.default_lifetime_days)

    def for_new(self, consent: Consent | None, expires_at: datetime | None) -> dict[str, Any]:
        """A new identity's consent and expiry: refused without consent when it is required;
        without ``expires_at`` it gets the default lifetime (if any)."""
        if self.require_consent and consent is None:
            raise ConsentRequiredError(
                "this server records consent before it stores a face: send consent "
                "{given_at, purpose, reference}", details={"field": "consent"})
        if expires_at is None and self.default_lifetime_days > 0:
            expires_at = utcnow() + timedelta(days=self.default_lifetime_days)
        return {"consent": consent, "expires_at": expires_at}

    def new(self, *, name: str) -> Identity:
        """A new identity made by bulk enrolment (no consent record: refused when required)."""
        return new_identity(name=name, external_id=None, metadata=None,
                            **self.for_new(None, None))

    def for_update(self, consent: Consent | None) -> None:
        """An update may not clear the consent of a server that requires it."""
        if self.require_consent and consent is None:
            raise ConsentRequiredError("this server requires consent: it cannot be removed "
                                       "(delete the person instead)",
                                       details={"field": "consent"})

    def check_enrol(self, identity: Identity) -> None:
        """Enrolling a face to a person without consent is refused when consent is required
        (identities created before the setting was turned on included)."""
        if self.require_consent and identity.consent is None:
            raise ConsentRequiredError(
                f"identity {identity.id!r} has no consent record: add one (PATCH consent) "
                "before enrolling faces", details={"identity_id": identity.id})


def check_update(terms: Terms, consent: Consent | None) -> None:
    if consent is not UNSET:
        terms.for_update(consent)


def actor_of(kind: str, actor_id: str | None, name: str | None) -> dict[str, Any]:
    return {"kind": kind, "id": actor_id, "name": name}


def receipt(identity_id: str, erased: ErasedFaces, *, actor: dict[str, Any],
            erased_at: datetime | None = None) -> dict[str, Any]:
    """The erasure receipt: what went with the person, when, by whom; no name."""
    out: dict[str, Any] = {"identity_id": identity_id}
    out.update({field: int(erased.counts.get(field, 0)) for field in RECEIPT_COUNTS})
    out["erased_at"] = (erased_at or utcnow()).isoformat()
    out["actor"] = actor
    return out


def consent_view(consent: Consent | None) -> dict[str, Any] | None:
    if consent is None:
        return None
    return {"given_at": consent.given_at.isoformat(), "purpose": consent.purpose,
            "reference": consent.reference}


def export_zip(store: GalleryStore, identity_id: str) -> tuple[Identity, bytes]:
    """The person's own data as a zip: ``person.json`` (record, consent, expiry, each face's
    enrolment time, model, box, detection score, image SHA-256) and ``chips/<face>.jpg``.
    Descriptors stay out: they are the system's derived template, not the person's data,
    and a leaked template can be matched against (docs/governance.md)."""
    identity = store.get_identity(identity_id)
    faces = store.list_faces(identity_id)
    record = {
        "format": EXPORT_FORMAT, "format_version": 1, "exported_at": utcnow().isoformat(),
        "identity": {
            "id": identity.id, "name": identity.name, "external_id": identity.external_id,
            "metadata": identity.metadata, "created_at": identity.created_at.isoformat(),
            "updated_at": identity.updated_at.isoformat(),
            "consent": consent_view(identity.consent),
            "expires_at": identity.expires_at.isoformat() if identity.expires_at else None,
        },
        "faces": [{
            "id": f.id, "enrolled_at": f.created_at.isoformat(), "model": f.model,
            "image_sha256": f.image_sha256, "detection_score": f.detection_score,
            "box": f.box.as_dict() if f.box else None,
            "chip": f"chips/{f.id}.jpg" if f.chip_jpeg else None} for f in faces],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", json.dumps(record, indent=2, ensure_ascii=False))
        for face in faces:
            if face.chip_jpeg:
                archive.writestr(f"chips/{face.id}.jpg", face.chip_jpeg,
                                 compress_type=zipfile.ZIP_STORED)
    return identity, out.getvalue()

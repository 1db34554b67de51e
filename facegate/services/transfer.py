"""Export and import a whole gallery as one portable zip file.

Layout (format 1): ``manifest.json`` (format, counts, the descriptor model, and the SHA-256 of
``gallery.jsonl``), ``gallery.jsonl`` (one identity a line with its samples; descriptors as
base64 little-endian float32) and ``chips/<face_id>.jpg``; trained classifiers as
``classifiers/<id>.npz`` with their records (and each file's SHA-256) in the manifest's
``classifiers`` list, which older exports lack. Ids and timestamps are kept, so an import into an
empty data folder answers every probe exactly as the source did.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from facegate.domain import Box, ClassifierInfo, FaceSample, Identity
from facegate.errors import ConflictError, ValidationError
from facegate.services import erasure
from facegate.storage.base import (
    GalleryStore,
    check_consent,
    check_external_id,
    check_metadata,
    check_name,
)
from facegate.storage.identity_links import consent_from, consent_json

FORMAT = "facegate-gallery"
FORMAT_VERSION = 1


def _identities(store: GalleryStore) -> Iterator[Identity]:
    offset = 0
    while True:
        page, _ = store.list_identities(limit=500, offset=offset)
        yield from page
        if len(page) < 500:
            return
        offset += len(page)


def export_gallery(store: GalleryStore, path: Path) -> tuple[int, int]:
    """Write the whole gallery to ``path``; returns ``(identities, faces)`` written."""
    identities = faces = 0
    lines = []
    gallery: dict[str, Counter[bytes]] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for identity in _identities(store):
            samples = store.list_faces(identity.id)
            gallery.update(erasure.alive((s.id, s.identity_id, s.descriptor) for s in samples))
            lines.append(json.dumps(_identity_record(identity, samples), sort_keys=True))
            for sample in samples:
                if sample.chip_jpeg:
                    archive.writestr(f"chips/{sample.id}.jpg", sample.chip_jpeg)
            identities += 1
            faces += len(samples)
        body = ("\n".join(lines) + "\n").encode() if lines else b""
        archive.writestr("gallery.jsonl", body)
        classifiers = []
        for stored in store.list_classifiers():
            # only who is in this export: never someone erased (or deleted while it ran)
            kept = erasure.reconciled(stored, store.classifier_blob(stored.id), gallery)
            if kept is None:
                continue
            info, blob = kept
            archive.writestr(f"classifiers/{info.id}.npz", blob)
            classifiers.append({"id": info.id, "kind": info.kind, "params": info.params,
                                "metrics": info.metrics, "created_at": info.created_at.isoformat(),
                                "identities": info.identities, "samples": info.samples,
                                "active": info.active, "sha256": hashlib.sha256(blob).hexdigest()})
        manifest = {
            "format": FORMAT, "version": FORMAT_VERSION, "identities": identities,
            "faces": faces, "gallery_sha256": hashlib.sha256(body).hexdigest(),
            "classifiers": classifiers,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return identities, faces


def import_gallery(store: GalleryStore, path: Path) -> tuple[int, int]:
    """Add every identity of an export to ``store``: all of them or, on any error, none.

    The whole file is checked (checksum, counts, records, ids already in the gallery) before the
    first write; if a write still fails, the identities already restored are deleted again.
    """
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValidationError(f"{path} is not a facegate export (not a zip file)") from exc
    with archive:
        manifest, body = _checked(archive)
        records = _records(body, manifest)
        _refuse_taken(store, [record["id"] for record in records])
        classifiers = _classifiers(archive, manifest)
        restored: list[str] = []
        saved: list[str] = []
        try:
            for record in records:
                try:
                    identity, samples = _from_record(record, archive)
                except (KeyError, ValueError, TypeError) as exc:  # chip missing, bad field
                    raise ValidationError(f"the export is damaged: {exc!r}") from exc
                store.restore(identity, samples)
                restored.append(identity.id)
            for info, blob in classifiers:
                store.save_classifier(info, blob)
                saved.append(info.id)
            active = [info.id for info, _ in classifiers if info.active]
            if active:
                store.activate_classifier(active[0])
        except BaseException:
            for classifier_id in saved:
                store.delete_classifier(classifier_id)
            for identity_id in reversed(restored):
                store.delete_identity(identity_id)
            raise
        erasure.reconcile(store, only=saved)  # an older export's classifier may hold the erased
    return len(records), sum(len(record["faces"]) for record in records)


def _records(body: bytes, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        records = [json.loads(line) for line in body.decode().splitlines()]
        counts = (len(records), sum(len(record["faces"]) for record in records))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError("the export is damaged: gallery.jsonl is not valid") from exc
    if counts != (manifest.get("identities"), manifest.get("faces")):
        raise ValidationError("the export's counts do not match its manifest")
    return records


def _classifiers(archive: zipfile.ZipFile,
                 manifest: dict[str, Any]) -> list[tuple[ClassifierInfo, bytes]]:
    """The export's classifiers with their arrays, each checked against its SHA-256."""
    out = []
    try:
        for item in manifest.get("classifiers", []):
            blob = archive.read(f"classifiers/{item['id']}.npz")
            if hashlib.sha256(blob).hexdigest() != item["sha256"]:
                raise ValidationError(f"the export is damaged: classifier {item['id']} checksum "
                                      "mismatch")
            out.append((ClassifierInfo(
                id=item["id"], kind=item["kind"], params=item["params"], metrics=item["metrics"],
                created_at=datetime.fromisoformat(item["created_at"]),
                identities=item["identities"], samples=item["samples"],
                active=bool(item["active"])), blob))
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationError(f"the export is damaged: a classifier is not valid: {exc!r}") \
            from exc
    return out


def _refuse_taken(store: GalleryStore, identity_ids: list[str]) -> None:
    for start in range(0, len(identity_ids), 500):
        taken = store.get_identities(identity_ids[start:start + 500])
        if taken:
            example = next(iter(taken.values()))
            raise ConflictError(
                f"identity {example.name!r} ({example.id}) of this export is already in the "
                "gallery: nothing was imported (import into an empty data folder)")


def _checked(archive: zipfile.ZipFile) -> tuple[dict[str, Any], bytes]:
    try:
        manifest = json.loads(archive.read("manifest.json"))
        body = archive.read("gallery.jsonl")
    except (KeyError, ValueError) as exc:
        raise ValidationError("not a facegate export: manifest.json or gallery.jsonl missing") \
            from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise ValidationError(f"unsupported export format {manifest.get('format')!r} "
                              f"version {manifest.get('version')!r}")
    if hashlib.sha256(body).hexdigest() != manifest.get("gallery_sha256"):
        raise ValidationError("the export is damaged: gallery.jsonl checksum mismatch")
    return manifest, body


def _identity_record(identity: Identity, samples: list[FaceSample]) -> dict[str, Any]:
    return {
        "id": identity.id, "name": identity.name, "external_id": identity.external_id,
        "metadata": identity.metadata, "created_at": identity.created_at.isoformat(),
        "updated_at": identity.updated_at.isoformat(), "consent": consent_json(identity.consent),
        "expires_at": identity.expires_at.isoformat() if identity.expires_at else None,
        "faces": [
            {
                "id": s.id, "descriptor": base64.b64encode(
                    np.asarray(s.descriptor, dtype="<f4").tobytes()).decode(),
                "model": s.model, "image_sha256": s.image_sha256,
                "detection_score": s.detection_score, "created_at": s.created_at.isoformat(),
                "box": s.box.as_dict() if s.box else None, "has_chip": bool(s.chip_jpeg),
            }
            for s in samples
        ],
    }


def _from_record(
    record: dict[str, Any], archive: zipfile.ZipFile
) -> tuple[Identity, list[FaceSample]]:
    identity = Identity(  # an archive's fields pass the checks a request's do
        id=record["id"], name=check_name(record["name"]),
        external_id=check_external_id(record["external_id"]),
        metadata=check_metadata(record["metadata"]),
        created_at=datetime.fromisoformat(record["created_at"]),
        updated_at=datetime.fromisoformat(record["updated_at"]),
        consent=check_consent(consent_from(record.get("consent"))),  # older exports: none
        expires_at=datetime.fromisoformat(record["expires_at"]) if record.get("expires_at")
        else None,
    )
    samples = [
        FaceSample(
            id=f["id"], identity_id=identity.id,
            descriptor=np.frombuffer(base64.b64decode(f["descriptor"]), dtype="<f4")
            .astype(np.float32),
            chip_jpeg=archive.read(f"chips/{f['id']}.jpg") if f["has_chip"] else b"",
            image_sha256=f["image_sha256"], detection_score=f["detection_score"],
            created_at=datetime.fromisoformat(f["created_at"]), model=f["model"],
            box=Box(**{k: f["box"][k] for k in ("left", "top", "right", "bottom")})
            if f["box"] else None,
        )
        for f in record["faces"]
    ]
    return identity, samples

"""DeepStack's userids over facegate's gallery: a userid is a facegate identity (by name).

DeepStack keeps one averaged template per userid and replaces it on every register; facegate
keeps every enrolled photo as its own sample (better open-set decisions) and only answers
DeepStack's ``face added`` (a new userid) or ``face updated`` (one that had faces). These run on
a worker thread (they call the model and the store).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from facegate.domain import FaceSample, Identity
from facegate.errors import (
    DuplicateFaceError,
    FacegateError,
    IdentityNotFoundError,
    NoFaceError,
)
from facegate.services.gallery import GalleryService

logger = logging.getLogger(__name__)
PAGE = 1000


@dataclass
class Registered:
    """What a register did: the message, the identity, and the samples it added."""

    message: str
    identity_id: str
    created: bool
    samples: list[FaceSample] = field(default_factory=list)


def identities_named(gallery: GalleryService, name: str) -> Iterator[Identity]:
    """Every identity with exactly this name, oldest first."""
    offset = 0
    while True:
        page, total = gallery.list_identities(name_contains=name, limit=PAGE, offset=offset)
        yield from (i for i in page if i.name == name)
        offset += len(page)
        if not page or offset >= total:
            return


def register(gallery: GalleryService, userid: str, photos: list[bytes]) -> Registered:
    """Enrol the largest face of each photo for ``userid`` (created with the first face when
    new). Photos without a face are skipped, as DeepStack does; none with a face is
    NoFaceError. Any other failure (a photo that is no image, the store) undoes what this call
    enrolled, so nothing is half-written."""
    found = gallery.find_by_name(userid)
    existed = found is not None and found.face_count > 0
    identity_id = found.id if found is not None else None
    created = False
    samples: list[FaceSample] = []
    already = 0
    try:
        for photo in photos:
            try:
                if identity_id is None:
                    enrolled = gallery.enroll_new_identity(name=userid, data=photo,
                                                           multiple_faces="largest")
                    identity_id, created = enrolled.sample.identity_id, True
                else:
                    enrolled = gallery.enroll_image(identity_id, photo, multiple_faces="largest")
            except NoFaceError:
                continue
            except DuplicateFaceError:  # this photo is already one of the person's samples
                already += 1
                continue
            samples.append(enrolled.sample)
    except FacegateError:
        _undo(gallery, identity_id, samples, created=created)
        raise
    if identity_id is None or not (samples or already):
        raise NoFaceError("no face was found in any of the photos")
    return Registered("face updated" if existed else "face added", identity_id, created,
                      samples)


def _undo(gallery: GalleryService, identity_id: str | None, samples: list[FaceSample], *,
          created: bool) -> None:
    """Take back this register's samples (or the identity it created)."""
    try:
        if created and identity_id is not None:
            gallery.delete_identity(identity_id)
            return
        for sample in samples:
            gallery.delete_face(sample.identity_id, sample.id)
    except FacegateError as exc:  # the original error is the answer; this one is logged
        logger.error("could not undo a failed DeepStack register: %s", exc.code)


def userids(gallery: GalleryService) -> list[str]:
    """The names of the identities that have faces, each once, oldest first."""
    names: dict[str, None] = {}
    offset = 0
    while True:
        page, total = gallery.list_identities(limit=PAGE, offset=offset)
        names.update((i.name, None) for i in page if i.face_count > 0)
        offset += len(page)
        if not page or offset >= total:
            return list(names)


def delete(gallery: GalleryService, userid: str) -> list[tuple[str, int]]:
    """Delete every identity named ``userid`` with its faces: (identity id, faces deleted)
    each. None named so is no error (DeepStack answers success)."""
    deleted = []
    for identity in list(identities_named(gallery, userid)):
        try:
            deleted.append((identity.id, gallery.delete_identity(identity.id)))
        except IdentityNotFoundError:  # deleted by another request meanwhile
            continue
    return deleted

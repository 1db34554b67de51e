"""Bulk enrolment from files, folders and zips.

Layouts understood (a zip may hold either, optionally under one wrapper folder):

* a folder of per-person folders: ``people/<name>/<any>.jpg`` — the folder name is the person;
* a folder of files named after the person: ``obama_1.jpg``, ``obama-2.png``, ``biden.jpg`` — the
  name is the file stem without a trailing ``_N``/``-N``/`` N`` counter.

Each photo is one transaction: a crash or kill mid-import leaves every photo either enrolled whole
or not at all, and a rerun skips what is already there (DUPLICATE_FACE).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from facegate.errors import FacegateError
from facegate.services.faces import MultipleFaces
from facegate.services.gallery import GalleryService

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})
_COUNTER = re.compile(r"[\s_-]+\d+$")


@dataclass(frozen=True, slots=True)
class Photo:
    source: str
    person: str
    #: Reads the bytes when needed, so a large folder or zip is never held in memory whole.
    read: Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class EnrolOutcome:
    source: str
    person: str
    status: str  # "enrolled" | "refused"
    code: str | None = None
    message: str | None = None
    identity_id: str | None = None
    face_id: str | None = None


def person_from_filename(filename: str) -> str:
    stem = PurePosixPath(filename).stem
    return _COUNTER.sub("", stem) or stem


def collect(paths: list[Path], *, max_member_bytes: int) -> list[Photo]:
    """Every photo under ``paths`` with the person it belongs to, in a stable order."""
    photos: list[Photo] = []
    for path in paths:
        if path.is_dir():
            photos += _from_folder(path)
        elif path.suffix.lower() == ".zip":
            photos += _from_zip(path, max_member_bytes=max_member_bytes)
        elif path.is_file():
            photos.append(Photo(str(path), person_from_filename(path.name), path.read_bytes))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return photos


def _is_image(name: str) -> bool:
    pure = PurePosixPath(name)
    return pure.suffix.lower() in IMAGE_SUFFIXES and not any(
        part.startswith(".") or part == "__MACOSX" for part in pure.parts
    )


def _from_folder(folder: Path) -> list[Photo]:
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and _is_image(p.relative_to(folder).as_posix())
    )
    return [
        Photo(str(p), _person(p.relative_to(folder).as_posix()), p.read_bytes) for p in files
    ]


def _from_zip(path: Path, *, max_member_bytes: int) -> list[Photo]:
    with zipfile.ZipFile(path) as archive:
        members = sorted(
            (m for m in archive.infolist() if not m.is_dir() and _is_image(m.filename)),
            key=lambda m: m.filename,
        )
    names = [m.filename for m in members]
    wrapper = _common_wrapper(names)
    photos = []
    for member in members:
        relative = member.filename[len(wrapper):]
        photos.append(Photo(f"{path}:{member.filename}", _person(relative),
                            _zip_reader(path, member, max_member_bytes)))
    return photos


def _zip_reader(path: Path, member: zipfile.ZipInfo, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        if member.file_size > limit:
            return b"\0" * (limit + 1)  # refused downstream as IMAGE_TOO_LARGE, never inflated
        with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
            return handle.read(limit + 1)

    return read


def _common_wrapper(names: list[str]) -> str:
    """A single top-level folder that wraps everything (``train/…``), else ''.

    One folder holding per-person folders is a wrapper. One folder holding only files is a
    wrapper when they are ``name_N`` files of several people (``photos/obama_1.jpg``,
    ``photos/biden.jpg``); otherwise it is one person's folder (``obama/img1.jpg``,
    ``obama/front.jpg``, ``obama/IMG_0001.jpg``).
    """
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        inner = [n.split("/", 1)[1] for n in names]
        named = len({person_from_filename(n) for n in inner}) > 1 and any(
            _COUNTER.search(PurePosixPath(n).stem) for n in inner)
        if named or any("/" in n for n in inner):
            return next(iter(tops)) + "/"
    return ""


def _person(relative: str) -> str:
    parts = PurePosixPath(relative).parts
    return parts[0] if len(parts) > 1 else person_from_filename(relative)


def enroll_photos(
    gallery: GalleryService, photos: list[Photo], *, multiple_faces: MultipleFaces | None = None
) -> Iterator[EnrolOutcome]:
    """Enrol each photo under its person (created on first sight); one outcome per photo."""
    known: dict[str, str] = {}
    for photo in photos:
        created = None
        try:
            identity_id = known.get(photo.person)
            if identity_id is None:
                existing = gallery.find_by_name(photo.person)
                if existing is None:
                    existing = created = gallery.create_identity(name=photo.person)
                identity_id = existing.id
            enrolled = gallery.enroll_image(identity_id, photo.read(),
                                            multiple_faces=multiple_faces)
            known[photo.person] = identity_id
        except FacegateError as exc:
            if created is not None:  # no empty identity for a person whose photo was refused
                gallery.delete_identity(created.id)
            yield EnrolOutcome(photo.source, photo.person, "refused", exc.code, exc.message)
        except OSError as exc:
            if created is not None:
                gallery.delete_identity(created.id)
            yield EnrolOutcome(photo.source, photo.person, "refused", "UNREADABLE_FILE", str(exc))
        else:
            yield EnrolOutcome(photo.source, photo.person, "enrolled",
                               identity_id=identity_id, face_id=enrolled.sample.id)

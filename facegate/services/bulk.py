"""Bulk enrolment from files, folders and zips.

Layouts understood (a zip may hold either, optionally under one wrapper folder):

* a folder of per-person folders: ``people/<name>/<any>.jpg`` — the folder name is the person;
* a folder of files named after the person: ``obama_1.jpg``, ``obama-2.png``, ``biden.jpg`` — the
  name is the file stem without a trailing ``_N``/``-N``/`` N`` counter.

Each photo is one transaction (a new person is created in the same one as their first face): a
crash or kill mid-import leaves every photo either enrolled whole or not at all, never a person
without a face, and a rerun skips what is already there (DUPLICATE_FACE). A photo that cannot be
used (unreadable, a bad zip member, no face, or one the pipeline fails on) is refused on its own,
with a code; the run goes on. Zips are read through ``archives.py`` (caps, one pass).
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from facegate.errors import ArchiveMemberError, FacegateError, ImageTooLargeError
from facegate.services.archives import ArchiveLimits, open_archive, read_member, unsafe_name
from facegate.services.faces import MultipleFaces
from facegate.services.gallery import GalleryService

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})
logger = logging.getLogger(__name__)
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


@contextmanager
def collect(paths: list[Path], *, limits: ArchiveLimits) -> Iterator[list[Photo]]:
    """Every photo under ``paths`` with the person it belongs to, in a stable order; the zips
    among them stay open (one ``ZipFile`` each) until the block ends.

    A zip over a cap raises ArchiveTooLargeError and one that is not a zip ArchiveError, before
    any photo is read; a member that cannot be used is that photo's refusal when it is read.
    """
    with ExitStack() as stack:
        photos: list[Photo] = []
        for path in paths:
            if path.is_dir():
                photos += _from_folder(path, limits.max_member_bytes)
            elif path.suffix.lower() == ".zip":
                archive = stack.enter_context(open_archive(path, limits))
                photos += _from_zip(path, archive, limits.max_member_bytes)
            elif path.is_file():
                photos.append(Photo(str(path), person_from_filename(path.name),
                                    _file_reader(path, limits.max_member_bytes)))
            else:
                raise FileNotFoundError(f"no such file or folder: {path}")
        yield photos


def _is_image(name: str) -> bool:
    pure = PurePosixPath(name)
    return pure.suffix.lower() in IMAGE_SUFFIXES and not any(
        part.startswith(".") or part == "__MACOSX" for part in pure.parts
    )


def _from_folder(folder: Path, limit: int) -> list[Photo]:
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and _is_image(p.relative_to(folder).as_posix())
    )
    return [Photo(str(p), _person(p.relative_to(folder).as_posix()), _file_reader(p, limit))
            for p in files]


def _file_reader(path: Path, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise ImageTooLargeError(f"{path.name} is over the limit of {limit} bytes",
                                     details={"limit_bytes": limit})
        return data

    return read


def _from_zip(path: Path, archive: zipfile.ZipFile, limit: int) -> list[Photo]:
    """The zip's photos; members with an unsafe name are kept as photos that are refused."""
    files = [m for m in archive.infolist() if not m.is_dir()]
    unsafe = {m.filename: why for m in files if (why := unsafe_name(m.filename))}
    members = sorted((m for m in files if m.filename not in unsafe and _is_image(m.filename)),
                     key=lambda m: m.filename)
    wrapper = _common_wrapper([m.filename for m in members])
    photos = [Photo(f"{path}:{m.filename}", _person(m.filename[len(wrapper):]),
                    _zip_reader(archive, m, limit)) for m in members]
    return photos + [Photo(f"{path}:{name}", person_from_filename(name.replace("\\", "/")),
                           _refused(ArchiveMemberError(f"the member name {name!r} {why}")))
                     for name, why in sorted(unsafe.items())]


def _zip_reader(archive: zipfile.ZipFile, member: zipfile.ZipInfo,
                limit: int) -> Callable[[], bytes]:
    return lambda: read_member(archive, member, limit=limit)


def _refused(error: FacegateError) -> Callable[[], bytes]:
    def read() -> bytes:
        raise error

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
    """Enrol each photo under its person; one outcome per photo, computed as it is asked for
    (stop iterating to stop enrolling). A person not yet in the gallery is created together
    with their first enrolled face, in one transaction: never an identity without a face."""
    known: dict[str, str] = {}
    for photo in photos:
        yield _enrol_one(gallery, photo, known, multiple_faces)


def _enrol_one(gallery: GalleryService, photo: Photo, known: dict[str, str],
               multiple_faces: MultipleFaces | None) -> EnrolOutcome:
    try:
        data = photo.read()
        identity_id = known.get(photo.person)
        if identity_id is None:
            existing = gallery.find_by_name(photo.person)
            identity_id = existing.id if existing is not None else None
        if identity_id is None:
            enrolled = gallery.enroll_new_identity(name=photo.person, data=data,
                                                   multiple_faces=multiple_faces)
        else:
            enrolled = gallery.enroll_image(identity_id, data, multiple_faces=multiple_faces)
    except FacegateError as exc:
        return _refusal(photo, exc.code, exc.message)
    except OSError as exc:
        return _refusal(photo, "UNREADABLE_FILE", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # one photo the pipeline chokes on must not end the whole run
        logger.error("enrolling %s failed unexpectedly: %s: %s", photo.source,
                     type(exc).__name__, exc)
        logger.debug("the failure in full", exc_info=True)
        return _refusal(photo, "INTERNAL_ERROR",
                        f"the photo could not be processed ({type(exc).__name__}: {exc})")
    known[photo.person] = enrolled.sample.identity_id
    return EnrolOutcome(photo.source, photo.person, "enrolled",
                        identity_id=enrolled.sample.identity_id, face_id=enrolled.sample.id)


def _refusal(photo: Photo, code: str, message: str) -> EnrolOutcome:
    return EnrolOutcome(photo.source, photo.person, "refused", code, message)

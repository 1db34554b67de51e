"""services/bulk.py: which photos a folder or zip holds, whose they are, and what a rerun does.

Layout tests use placeholder bytes (collect() never decodes); the enrolment tests run the real
model on real photos into a real SQLite gallery.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from facegate.bootstrap import Facegate, build
from facegate.config import Settings
from facegate.services.archives import ArchiveLimits
from facegate.services.bulk import Photo, collect, enroll_photos, person_from_filename

LIMIT = 10 * 1024 * 1024
LIMITS = ArchiveLimits(max_entries=1000, max_uncompressed_bytes=1 << 30, max_member_bytes=LIMIT)


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"not decoded: {name}".encode())


def people(paths: list[Path]) -> dict[str, str]:
    """``{last part of the source: person}`` for everything collect() finds."""
    with collect(paths, limits=LIMITS) as photos:
        return {photo.source.replace(":", "/").rsplit("/", 1)[-1]: photo.person
                for photo in photos}


def read_all(paths: list[Path], limits: ArchiveLimits = LIMITS) -> list[tuple[Photo, bytes]]:
    """Every photo collect() finds with its bytes, read while its zip is open."""
    with collect(paths, limits=limits) as photos:
        return [(photo, photo.read()) for photo in photos]


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(("filename", "person"), [
    ("obama_12.jpg", "obama"), ("mary-jane_2.png", "mary-jane"), ("biden.jpg", "biden"),
    ("obama-2.jpeg", "obama"), ("kit harington 3.jpg", "kit harington"),
    ("rose_leslie_1.webp", "rose_leslie"), ("r2d2.jpg", "r2d2"), ("2.jpg", "2"),
])
def test_person_from_filename(filename: str, person: str) -> None:
    assert person_from_filename(filename) == person


def test_folder_of_person_folders(tmp_path: Path) -> None:
    touch(tmp_path / "train", "obama/a.jpg", "obama/b.png", "biden/1.JPG",
          "kit_harington/2019/john1.jpeg")
    found = read_all([tmp_path / "train"])
    assert [(Path(p.source).name, p.person) for p, _ in found] == [
        ("1.JPG", "biden"), ("john1.jpeg", "kit_harington"), ("a.jpg", "obama"),
        ("b.png", "obama"),
    ]
    assert found[0][1] == b"not decoded: biden/1.JPG"


def test_folder_of_named_files(tmp_path: Path) -> None:
    touch(tmp_path, "obama_1.jpg", "obama_12.jpg", "mary-jane_2.png", "biden.jpg")
    assert people([tmp_path]) == {"biden.jpg": "biden", "mary-jane_2.png": "mary-jane",
                                  "obama_1.jpg": "obama", "obama_12.jpg": "obama"}


def test_single_files_are_named_by_their_stem(tmp_path: Path) -> None:
    touch(tmp_path, "obama_3.jpg", "elsewhere/biden.png")
    assert people([tmp_path / "obama_3.jpg", tmp_path / "elsewhere" / "biden.png"]) == {
        "obama_3.jpg": "obama", "biden.png": "biden"}


def test_hidden_files_macosx_and_non_images_are_ignored(tmp_path: Path) -> None:
    touch(tmp_path / "in", "obama_1.jpg", ".hidden.jpg", "._obama_1.jpg", ".git/x_1.jpg",
          "__MACOSX/._biden_1.jpg", "notes.txt", "obama_2.jpg.part", "Thumbs.db")
    assert people([tmp_path / "in"]) == {"obama_1.jpg": "obama"}
    archive = make_zip(tmp_path / "mac.zip", {
        "people/obama/a.jpg": b"a", "people/biden/b.jpg": b"b", "people/.DS_Store": b"x",
        "__MACOSX/people/obama/._a.jpg": b"resource fork", "people/obama/._a.jpg": b"fork",
        "people/readme.md": b"hello",
    })
    assert people([archive]) == {"a.jpg": "obama", "b.jpg": "biden"}


@pytest.mark.parametrize(("members", "expected"), [
    ({"obama_1.jpg": b"1", "obama_2.jpg": b"2", "biden_1.jpg": b"3"},
     {"obama_1.jpg": "obama", "obama_2.jpg": "obama", "biden_1.jpg": "biden"}),
    ({"photos/obama_1.jpg": b"1", "photos/biden.jpg": b"3"},
     {"obama_1.jpg": "obama", "biden.jpg": "biden"}),
    ({"obama/a.jpg": b"1", "biden/b.jpg": b"2"}, {"a.jpg": "obama", "b.jpg": "biden"}),
    ({"train/obama/a.jpg": b"1", "train/biden/b.jpg": b"2", "train/biden/c.jpg": b"3"},
     {"a.jpg": "obama", "b.jpg": "biden", "c.jpg": "biden"}),
    ({"obama/img1.jpg": b"1", "obama/img2.jpg": b"2"}, {"img1.jpg": "obama", "img2.jpg": "obama"}),
    ({"obama/IMG_0001.jpg": b"1", "obama/IMG_0002.jpg": b"2"},
     {"IMG_0001.jpg": "obama", "IMG_0002.jpg": "obama"}),
    ({"obama/front.jpg": b"1", "obama/side.jpg": b"2"},
     {"front.jpg": "obama", "side.jpg": "obama"}),
], ids=["flat", "flat-in-wrapper", "person-folders", "person-folders-in-wrapper",
        "one-person-folder", "one-person-camera-names", "one-person-named-files"])
def test_zip_layouts(tmp_path: Path, members: dict[str, bytes],
                     expected: dict[str, str]) -> None:
    archive = make_zip(tmp_path / "photos.zip", members)
    found = read_all([archive])
    assert {p.source.rsplit("/", 1)[-1].rsplit(":", 1)[-1]: p.person for p, _ in found} == \
        expected
    by_name = {p.source.rsplit("/", 1)[-1].rsplit(":", 1)[-1]: (p, d) for p, d in found}
    for name, (photo, data) in by_name.items():
        assert photo.source.startswith(f"{archive}:")
        assert data == next(v for k, v in members.items() if k.endswith(name))


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        people([tmp_path / "nowhere"])


@pytest.fixture
def facegate(tmp_path: Path) -> Iterator[Facegate]:
    built = build(Settings(data_dir=tmp_path / "data", image={"max_upload_bytes": 1_000_000}))
    yield built
    built.close()


def test_oversized_zip_member_is_refused_without_inflating_it(
        tmp_path: Path, facegate: Facegate, faces: Path) -> None:
    limit = facegate.settings.image.max_upload_bytes
    archive = make_zip(tmp_path / "bomb.zip", {"bomb_1.jpg": b"\0" * (40 * limit),
                                               "biden_1.jpg": (faces / "biden.jpg").read_bytes()})
    # Scribble over the start of the bomb's compressed bytes: inflating even a little of it
    # now fails loudly (zlib error), so the refusal below proves it was never opened.
    with zipfile.ZipFile(archive) as opened:
        info = opened.getinfo("bomb_1.jpg")
    assert info.compress_size < limit // 10 < limit < info.file_size  # 40 MB in a small zip
    with archive.open("r+b") as raw:
        raw.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(raw.read(2), "little") for _ in range(2))
        raw.seek(info.header_offset + 30 + name_len + extra_len)
        raw.write(b"\xff" * 64)

    limits = ArchiveLimits.from_settings(facegate.settings.image)
    with collect([archive], limits=limits) as photos:
        outcomes = list(enroll_photos(facegate.gallery, photos))

    assert [(o.person, o.status, o.code) for o in outcomes] == [
        ("biden", "enrolled", None), ("bomb", "refused", "IMAGE_TOO_LARGE")]
    assert facegate.gallery.find_by_name("bomb") is None  # no empty identity left behind
    assert facegate.gallery.counts() == (1, 1)


def test_rerun_reports_duplicates_not_new_faces(
        tmp_path: Path, facegate: Facegate, faces: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    for source, target in [("obama.jpg", "obama_1.jpg"), ("obama2.jpg", "obama_2.jpg"),
                           ("biden.jpg", "biden_1.jpg")]:
        shutil.copy(faces / source, folder / target)
    with collect([folder], limits=LIMITS) as photos:
        first = list(enroll_photos(facegate.gallery, photos))
    assert [(o.person, o.status) for o in first] == [
        ("biden", "enrolled"), ("obama", "enrolled"), ("obama", "enrolled")]
    assert len({o.identity_id for o in first}) == 2
    assert facegate.gallery.counts() == (2, 3)

    with collect([folder], limits=LIMITS) as photos:
        again = list(enroll_photos(facegate.gallery, photos))
    assert [(o.person, o.status, o.code) for o in again] == [
        ("biden", "refused", "DUPLICATE_FACE"), ("obama", "refused", "DUPLICATE_FACE"),
        ("obama", "refused", "DUPLICATE_FACE")]
    assert facegate.gallery.counts() == (2, 3)
    obama = facegate.gallery.find_by_name("obama")
    assert obama is not None and obama.face_count == 2


def test_a_file_gone_before_it_is_read_is_one_refusal_and_no_person(
        tmp_path: Path, facegate: Facegate, faces: Path) -> None:
    folder = tmp_path / "people"
    for person in ("obama", "gone"):
        (folder / person).mkdir(parents=True)
        shutil.copy(faces / f"{'obama' if person == 'obama' else 'biden'}.jpg",
                    folder / person / "a.jpg")
    with collect([folder], limits=LIMITS) as photos:
        (folder / "gone" / "a.jpg").unlink()  # listed, then unreadable
        outcomes = list(enroll_photos(facegate.gallery, photos))
    assert [(o.person, o.status, o.code) for o in outcomes] == [
        ("gone", "refused", "UNREADABLE_FILE"), ("obama", "enrolled", None)]
    assert "FileNotFoundError" in (outcomes[0].message or "")
    assert facegate.gallery.find_by_name("gone") is None
    assert facegate.gallery.counts() == (1, 1)

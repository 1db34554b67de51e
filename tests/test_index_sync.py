"""The search index follows writes made by another process on the same SQLite file.

The first gallery (IndexedGallery + GalleryService + RecognitionService) serves identify; the
"other process" is a second SQLiteStore on the same file writing through store methods only, as a
CLI enrol or a second replica would. Real photos, real models, a real SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facegate.bootstrap import shared_models
from facegate.domain import FaceSample, IdentifyResult, Timings
from facegate.pipeline.detect import FaceFinder
from facegate.pipeline.faces import FacePipeline
from facegate.services.faces import FaceReader, chip_jpeg
from facegate.services.gallery import GalleryService, IndexedGallery
from facegate.services.recognition import RecognitionService
from facegate.storage.base import new_id
from facegate.storage.sqlite import SQLiteStore


@dataclass
class Node:
    store: SQLiteStore
    indexed: IndexedGallery
    gallery: GalleryService
    recognition: RecognitionService


@pytest.fixture(scope="module")
def reader() -> FaceReader:
    models = shared_models()
    pipeline = FacePipeline(finder=FaceFinder(models), landmarker=models, aligner=models,
                            embedder=models)
    return FaceReader(pipeline, max_upload_bytes=10 * 1024 * 1024, max_pixels=40_000_000)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "gallery.db"


@pytest.fixture
def node(db: Path, reader: FaceReader) -> Iterator[Node]:
    store = SQLiteStore(db)
    indexed = IndexedGallery(store)
    yield Node(store, indexed, GalleryService(indexed, reader, multiple_faces="reject"),
               RecognitionService(indexed, reader, threshold=0.6, top_k=3,
                                  multiple_faces="reject"))
    store.close()


@pytest.fixture
def other(db: Path, node: Node) -> Iterator[SQLiteStore]:
    """The second writer, on the same file (opened after the first gallery loaded its index)."""
    store = SQLiteStore(db)
    yield store
    store.close()


def sample_from_photo(reader: FaceReader, identity_id: str, data: bytes) -> FaceSample:
    image, face = reader.one_face(data, Timings(), multiple_faces="reject")
    return FaceSample(id=new_id(), identity_id=identity_id, descriptor=face.descriptor,
                      chip_jpeg=chip_jpeg(face.chip), image_sha256=image.sha256,
                      detection_score=face.detection.score, created_at=datetime.now(UTC),
                      box=face.detection.box)


def only_face(result: IdentifyResult) -> tuple[str | None, list[str]]:
    """(decided identity id or None, candidate identity ids) of the photo's single face."""
    assert len(result.faces) == 1
    face = result.faces[0]
    decided = face.decision.identity.identity_id if face.decision.identity else None
    return decided, [c.identity_id for c in face.candidates]


def test_other_writers_enrolment_becomes_visible(node: Node, other: SQLiteStore,
                                                 reader: FaceReader, faces: Path) -> None:
    obama_photo = (faces / "obama.jpg").read_bytes()
    biden = node.gallery.create_identity(name="biden")
    node.gallery.enroll_image(biden.id, (faces / "biden.jpg").read_bytes())
    assert only_face(node.recognition.identify(obama_photo))[0] is None

    obama = other.create_identity(name="obama")
    other.add_face(sample_from_photo(reader, obama.id, (faces / "obama2.jpg").read_bytes()))
    assert len(node.indexed.index) == 1  # nothing reloaded until someone searches

    result = node.recognition.identify(obama_photo)
    decided, candidates = only_face(result)
    assert decided == obama.id and candidates == [obama.id, biden.id]
    assert result.faces[0].candidates[0].name == "obama"
    assert result.faces[0].candidates[0].distance < 0.6
    assert len(node.indexed.index) == 2


def test_other_writers_delete_is_never_matched_again(node: Node, other: SQLiteStore,
                                                     reader: FaceReader, faces: Path) -> None:
    obama_photo = (faces / "obama.jpg").read_bytes()
    obama = node.gallery.create_identity(name="obama")
    node.gallery.enroll_image(obama.id, (faces / "obama2.jpg").read_bytes())
    assert only_face(node.recognition.identify(obama_photo))[0] == obama.id

    other.delete_identity(obama.id)
    for _ in range(2):
        assert only_face(node.recognition.identify(obama_photo)) == (None, [])
    assert len(node.indexed.index) == 0
    # the first gallery's own later writes do not bring the deleted samples back
    biden = node.gallery.create_identity(name="biden")
    node.gallery.enroll_image(biden.id, (faces / "biden.jpg").read_bytes())
    assert only_face(node.recognition.identify(obama_photo)) == (None, [biden.id])


def test_other_writers_face_delete_moves_the_match_to_the_next_sample(
    node: Node, other: SQLiteStore, faces: Path
) -> None:
    obama = node.gallery.create_identity(name="obama")
    closest = node.gallery.enroll_image(obama.id, (faces / "obama.jpg").read_bytes()).sample
    second = node.gallery.enroll_image(obama.id, (faces / "obama2.jpg").read_bytes()).sample
    probe = (faces / "obama.jpg").read_bytes()
    before = node.recognition.identify(probe).faces[0].candidates[0]
    assert before.face_id == closest.id and before.distance == pytest.approx(0.0, abs=1e-6)

    other.delete_face(obama.id, closest.id)
    after = node.recognition.identify(probe).faces[0].candidates[0]
    assert after.identity_id == obama.id and after.face_id == second.id
    assert 0.0 < after.distance < 0.6
    assert {row[0] for row in node.store.descriptors()} == {second.id}
    assert len(node.indexed.index) == 1

"""One contract suite for every GalleryStore backend, chosen by URL through ``open_store``.

The backends are ``conftest.STORE_URLS`` (PostgreSQL: a fresh, empty database per test).
Samples carry random float32 descriptors: the contract is about storage, not about faces.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from facegate.domain import DESCRIPTOR_SIZE, Box, FaceSample, Identity
from facegate.errors import ConflictError, DuplicateFaceError, ValidationError
from facegate.errors import FaceNotFoundError as NoFace
from facegate.errors import IdentityNotFoundError as NoIdentity
from facegate.storage.base import GalleryStore, new_id


def _jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_sample(identity_id: str, seed: int, *, sha: str | None = None,
                created_at: datetime | None = None) -> FaceSample:
    rng = np.random.default_rng(seed)
    return FaceSample(
        id=new_id(), identity_id=identity_id,
        descriptor=rng.standard_normal(DESCRIPTOR_SIZE).astype(np.float32),
        chip_jpeg=_jpeg(seed), image_sha256=sha or f"{seed:064x}",
        detection_score=round(float(rng.uniform(0, 3)), 4),
        created_at=created_at or datetime.now(UTC), box=Box(10, 20, 110, 120),
    )


def make_identity(name: str, *, identity_id: str | None = None,
                  external_id: str | None = None) -> Identity:
    when = datetime(2020, 5, 17, 8, 30, 0, 123456, tzinfo=UTC)
    return Identity(id=identity_id or new_id(), name=name, external_id=external_id,
                    metadata={"k": "v"}, created_at=when, updated_at=when + timedelta(days=1))


def comparable(sample: FaceSample) -> tuple[object, ...]:
    """Every field, the descriptor as dtype and exact bytes (arrays do not compare with ==)."""
    fields = (getattr(sample, f.name) for f in dataclasses.fields(sample) if f.name != "descriptor")
    return (*fields, sample.descriptor.dtype, sample.descriptor.tobytes())


def _ids(identities: list[Identity]) -> list[str]:
    return [identity.id for identity in identities]


# identities
def test_create_and_get_identity(store: GalleryStore) -> None:
    created = store.create_identity(name="  Ada Lovelace ", external_id="emp-1",
                                    metadata={"team": "R&D", "tags": ["a", "ü"], "n": 3})
    got = store.get_identity(created.id)
    assert got == created and got.name == "Ada Lovelace"
    assert got.metadata == {"team": "R&D", "tags": ["a", "ü"], "n": 3}
    assert got.created_at.tzinfo is not None and got.created_at == got.updated_at
    assert got.face_count == 0
    assert store.create_identity(name="Ada Lovelace").id != created.id


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_refuses_bad_name(store: GalleryStore, name: str) -> None:
    with pytest.raises(ValidationError):
        store.create_identity(name=name)
    assert store.counts() == (0, 0)


def test_unknown_identity_is_not_found(store: GalleryStore) -> None:
    for call in (store.get_identity, store.delete_identity, store.list_faces,
                 lambda i: store.update_identity(i, name="x")):
        with pytest.raises(NoIdentity):
            call(new_id())


def test_get_identities_leaves_out_missing(store: GalleryStore) -> None:
    a, b = store.create_identity(name="a"), store.create_identity(name="b")
    store.add_face(make_sample(b.id, 1))
    found = store.get_identities([a.id, new_id(), b.id])
    assert found == {a.id: a, b.id: store.get_identity(b.id)}
    assert found[b.id].face_count == 1
    assert store.get_identities([]) == {}


def test_list_pages_oldest_first_with_total(store: GalleryStore) -> None:
    created = [store.create_identity(name=f"person {i}") for i in range(7)]
    everyone, total = store.list_identities(limit=100)
    assert total == 7 and set(_ids(everyone)) == set(_ids(created))
    keys = [(i.created_at, i.id) for i in everyone]
    assert keys == sorted(keys)
    pages = [store.list_identities(limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [len(page) for page, _ in pages] == [3, 3, 1, 0]
    assert all(total == 7 for _, total in pages)
    assert [i for page, _ in pages for i in _ids(page)] == _ids(everyone)


def test_list_filters_by_name_case_insensitively(store: GalleryStore) -> None:
    ada = store.create_identity(name="Ada Lovelace")
    store.create_identity(name="Alan Turing")
    angstrom = store.create_identity(name="ÅNGSTRÖM")
    page, total = store.list_identities(name_contains="LOVE")
    assert (_ids(page), total) == ([ada.id], 1)
    assert _ids(store.list_identities(name_contains="ångström")[0]) == [angstrom.id]
    assert store.list_identities(name_contains="nobody") == ([], 0)
    assert store.list_identities(name_contains="")[1] == 3


def test_list_filter_treats_wildcards_literally(store: GalleryStore) -> None:
    percent = store.create_identity(name="100% sure")
    store.create_identity(name="1000 sure")
    underscore = store.create_identity(name="a_b")
    store.create_identity(name="axb")
    backslash = store.create_identity(name="back\\slash")
    for text, expected in [("%", percent), ("0%", percent), ("_", underscore),
                           ("a_b", underscore), ("\\", backslash)]:
        assert _ids(store.list_identities(name_contains=text)[0]) == [expected.id], text


def test_update_unset_keeps_and_none_clears(store: GalleryStore) -> None:
    created = store.create_identity(name="Ada", external_id="emp-1", metadata={"a": 1})
    renamed = store.update_identity(created.id, name="Ada L.")
    assert (renamed.name, renamed.external_id, renamed.metadata) == ("Ada L.", "emp-1", {"a": 1})
    assert renamed.created_at == created.created_at and renamed.updated_at >= created.updated_at
    cleared = store.update_identity(created.id, external_id=None)
    assert (cleared.name, cleared.external_id, cleared.metadata) == ("Ada L.", None, {"a": 1})
    changed = store.update_identity(created.id, metadata={"b": [2]}, external_id="emp-2")
    assert (changed.external_id, changed.metadata) == ("emp-2", {"b": [2]})
    assert store.get_identity(created.id) == changed
    with pytest.raises(ValidationError):
        store.update_identity(created.id, name=" ")
    assert store.get_identity(created.id).name == "Ada L."


def test_taken_external_id_conflicts(store: GalleryStore) -> None:
    first = store.create_identity(name="first", external_id="emp-1")
    second = store.create_identity(name="second", external_id="emp-2")
    with pytest.raises(ConflictError):
        store.create_identity(name="third", external_id="emp-1")
    with pytest.raises(ConflictError):
        store.update_identity(second.id, external_id="emp-1")
    assert store.get_identity(second.id) == second
    assert store.counts() == (2, 0)
    assert store.update_identity(first.id, external_id="emp-1").external_id == "emp-1"
    store.update_identity(first.id, external_id=None)
    assert store.update_identity(second.id, external_id="emp-1").external_id == "emp-1"
    assert [store.create_identity(name=f"n{i}").external_id for i in range(2)] == [None, None]


def test_delete_identity_returns_faces_and_cascades(store: GalleryStore) -> None:
    doomed, kept = store.create_identity(name="doomed"), store.create_identity(name="kept")
    samples = [make_sample(doomed.id, seed) for seed in (1, 2, 3)]
    for sample in samples:
        store.add_face(sample)
    survivor = make_sample(kept.id, 4)
    store.add_face(survivor)
    assert sorted(store.delete_identity(doomed.id)) == sorted(s.id for s in samples)
    assert [row[0] for row in store.descriptors()] == [survivor.id]
    assert store.counts() == (1, 1)
    for gone in (store.get_identity, store.delete_identity, store.list_faces,
                 lambda i: store.get_face(i, samples[0].id)):
        with pytest.raises(NoIdentity):
            gone(doomed.id)
    assert store.delete_identity(store.create_identity(name="empty").id) == []


# faces
def test_add_get_list_delete_faces(store: GalleryStore) -> None:
    identity = store.create_identity(name="ada")
    start = datetime.now(UTC)
    samples = [make_sample(identity.id, seed, created_at=start + timedelta(seconds=seed))
               for seed in (3, 1, 2)]
    for sample in samples:
        store.add_face(sample)
    assert comparable(store.get_face(identity.id, samples[0].id)) == comparable(samples[0])
    listed = store.list_faces(identity.id)
    assert [s.id for s in listed] == [samples[1].id, samples[2].id, samples[0].id]
    assert store.get_identity(identity.id).face_count == 3
    store.delete_face(identity.id, samples[1].id)
    assert [s.id for s in store.list_faces(identity.id)] == [samples[2].id, samples[0].id]
    with pytest.raises(NoFace):
        store.get_face(identity.id, samples[1].id)
    with pytest.raises(NoFace):
        store.delete_face(identity.id, samples[1].id)
    assert store.counts() == (1, 2)


def test_face_without_box_or_score_round_trips(store: GalleryStore) -> None:
    identity = store.create_identity(name="descriptor only")
    bare = dataclasses.replace(make_sample(identity.id, 9), chip_jpeg=b"", detection_score=None,
                               box=None)
    store.add_face(bare)
    assert comparable(store.get_face(identity.id, bare.id)) == comparable(bare)


def test_add_face_to_unknown_identity(store: GalleryStore) -> None:
    with pytest.raises(NoIdentity):
        store.add_face(make_sample(new_id(), 1))
    assert store.counts() == (0, 0) and store.descriptors() == []


def test_face_of_another_identity_is_not_found(store: GalleryStore) -> None:
    owner, other = store.create_identity(name="owner"), store.create_identity(name="other")
    sample = make_sample(owner.id, 1)
    store.add_face(sample)
    with pytest.raises(NoFace):
        store.get_face(other.id, sample.id)
    with pytest.raises(NoFace):
        store.delete_face(other.id, sample.id)
    with pytest.raises(NoFace):
        store.get_face(owner.id, new_id())
    assert store.get_face(owner.id, sample.id).id == sample.id


def test_descriptors_round_trip_float32_exactly(store: GalleryStore) -> None:
    identity = store.create_identity(name="ada")
    special = np.array([np.finfo(np.float32).tiny, np.finfo(np.float32).max, -0.0, 1 / 3],
                       dtype=np.float32)
    samples = [make_sample(identity.id, seed) for seed in range(5)]
    samples[0].descriptor[:4] = special
    for sample in samples:
        store.add_face(sample)
    rows = {face: (owner, v.dtype, v.shape, v.tobytes()) for face, owner, v in store.descriptors()}
    f32 = np.dtype("float32")
    assert rows == {s.id: (identity.id, f32, (DESCRIPTOR_SIZE,), s.descriptor.tobytes())
                    for s in samples}


def test_duplicate_image_is_refused_per_identity(store: GalleryStore) -> None:
    ada, bob = store.create_identity(name="ada"), store.create_identity(name="bob")
    store.add_face(make_sample(ada.id, 1, sha="ab" * 32))
    with pytest.raises(DuplicateFaceError):
        store.add_face(make_sample(ada.id, 2, sha="ab" * 32))
    assert store.get_identity(ada.id).face_count == 1
    store.add_face(make_sample(bob.id, 3, sha="ab" * 32))
    assert store.counts() == (2, 2)


# restore, counts
def test_restore_keeps_ids_and_timestamps(store: GalleryStore) -> None:
    identity = make_identity("restored", external_id="ext-9")
    when = identity.created_at
    samples = [make_sample(identity.id, seed, created_at=when + timedelta(hours=seed))
               for seed in (1, 2)]
    store.restore(identity, samples)
    assert store.get_identity(identity.id) == dataclasses.replace(identity, face_count=2)
    listed = store.list_faces(identity.id)
    assert [comparable(s) for s in listed] == [comparable(s) for s in samples]


def test_restore_refuses_existing_id_without_partial_writes(store: GalleryStore) -> None:
    existing = store.create_identity(name="existing", external_id="ext-1")
    store.add_face(make_sample(existing.id, 1))
    before = (store.counts(), sorted(r[0] for r in store.descriptors()))
    clash = make_identity("impostor", identity_id=existing.id)
    with pytest.raises(ConflictError):
        store.restore(clash, [make_sample(existing.id, seed) for seed in (5, 6)])
    taken = make_identity("taken", external_id="ext-1")
    with pytest.raises(ConflictError):
        store.restore(taken, [make_sample(taken.id, 7)])
    twice = make_identity("twice")
    with pytest.raises(DuplicateFaceError):
        store.restore(twice, [make_sample(twice.id, 8, sha="cd" * 32),
                              make_sample(twice.id, 9, sha="cd" * 32)])
    assert (store.counts(), sorted(r[0] for r in store.descriptors())) == before
    assert store.get_identity(existing.id).name == "existing"
    for missing in (taken.id, twice.id):
        with pytest.raises(NoIdentity):
            store.get_identity(missing)


def test_counts_and_face_count(store: GalleryStore) -> None:
    assert store.counts() == (0, 0)
    ada, bob = store.create_identity(name="ada"), store.create_identity(name="bob")
    for seed in range(3):
        store.add_face(make_sample(ada.id, seed))
    store.add_face(make_sample(bob.id, 10))
    assert store.counts() == (2, 4)
    assert {i.id: i.face_count for i in store.list_identities()[0]} == {ada.id: 3, bob.id: 1}
    assert store.update_identity(ada.id, name="ada 2").face_count == 3
    assert store.get_identities([bob.id])[bob.id].face_count == 1

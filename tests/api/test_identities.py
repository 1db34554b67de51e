"""/healthz, /readyz and the gallery endpoints (/v1/identities and their faces) over real HTTP."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, settings_for
from PIL import Image


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One live server (own SQLite gallery) for the module; tests create their own identities."""
    server = LiveServer(settings_for(tmp_path_factory.mktemp("identities"))).start()
    with server.client() as client:
        yield client
    server.stop()


def create(http: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    response = http.post("/v1/identities", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upload(path: Path) -> dict[str, tuple[str, bytes]]:
    return {"image": (path.name, path.read_bytes())}


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert isinstance(body["version"], str) and body["version"]
    before = body["identities"]
    create(http, "ready-count")
    assert http.get("/readyz").json()["identities"] == before + 1


def test_create_and_get_identity(http: httpx.Client) -> None:
    external = f"emp-{uuid.uuid4().hex[:8]}"
    made = create(http, "Ada Lovelace", external_id=external, metadata={"team": "r&d", "n": 3})
    assert len(made["id"]) >= 16
    assert made["name"] == "Ada Lovelace"
    assert made["external_id"] == external
    assert made["metadata"] == {"team": "r&d", "n": 3}
    assert made["face_count"] == 0
    assert made["created_at"] == made["updated_at"]
    fetched = http.get(f"/v1/identities/{made['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == made
    bare = create(http, "No Extras")
    assert bare["external_id"] is None and bare["metadata"] == {}


def test_list_paginates_and_filters_by_name(http: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [create(http, f"page-{tag}-{i}")["id"] for i in range(5)]
    create(http, f"other-{tag}")

    first = http.get("/v1/identities", params={"name": f"page-{tag}", "limit": 2}).json()
    assert first["total"] == 5 and first["limit"] == 2 and first["offset"] == 0
    assert [i["id"] for i in first["items"]] == made[:2]  # oldest first
    second = http.get("/v1/identities",
                      params={"name": f"page-{tag}", "limit": 2, "offset": 2}).json()
    assert [i["id"] for i in second["items"]] == made[2:4]
    last = http.get("/v1/identities",
                    params={"name": f"page-{tag}", "limit": 2, "offset": 4}).json()
    assert [i["id"] for i in last["items"]] == made[4:]
    beyond = http.get("/v1/identities", params={"name": f"page-{tag}", "offset": 50}).json()
    assert beyond["items"] == [] and beyond["total"] == 5

    # "name" is a substring filter; without it every identity is counted.
    assert http.get("/v1/identities", params={"name": tag}).json()["total"] == 6
    assert http.get("/v1/identities", params={"name": f"nobody-{tag}"}).json()["total"] == 0
    everyone = http.get("/v1/identities", params={"limit": 1000}).json()
    assert everyone["total"] >= 6 and len(everyone["items"]) == everyone["total"]
    assert http.get("/v1/identities").json()["limit"] == 50


def test_patch_changes_only_the_fields_sent(http: httpx.Client) -> None:
    external = f"ext-{uuid.uuid4().hex[:8]}"
    made = create(http, "Grace", external_id=external, metadata={"floor": 2})
    url = f"/v1/identities/{made['id']}"

    renamed = http.patch(url, json={"name": "Grace Hopper"})
    assert renamed.status_code == 200
    body = renamed.json()
    assert body["name"] == "Grace Hopper"
    assert body["external_id"] == external and body["metadata"] == {"floor": 2}
    assert body["updated_at"] > made["updated_at"]
    assert body["created_at"] == made["created_at"]

    body = http.patch(url, json={"metadata": {"floor": 3, "badge": True}}).json()
    assert body["metadata"] == {"floor": 3, "badge": True}
    assert body["name"] == "Grace Hopper" and body["external_id"] == external

    body = http.patch(url, json={"external_id": "new-" + external}).json()
    assert body["external_id"] == "new-" + external and body["metadata"]["floor"] == 3

    body = http.patch(url, json={"external_id": None}).json()  # null clears it
    assert body["external_id"] is None and body["name"] == "Grace Hopper"

    unchanged = http.patch(url, json={}).json()
    assert {k: unchanged[k] for k in ("name", "external_id", "metadata")} == {
        "name": "Grace Hopper", "external_id": None, "metadata": {"floor": 3, "badge": True}}
    assert http.get(url).json()["name"] == "Grace Hopper"


def test_faces_add_list_get_chip_delete(http: httpx.Client, faces: Path) -> None:
    identity = create(http, "obama")
    base = f"/v1/identities/{identity['id']}/faces"

    by_file = http.post(base, files=upload(faces / "obama.jpg"))
    assert by_file.status_code == 201, by_file.text
    sample, detection = by_file.json()["face"], by_file.json()["detection"]
    assert sample["identity_id"] == identity["id"]
    assert sample["model"] == "dlib_resnet_v1"
    assert len(sample["image_sha256"]) == 64
    assert sample["box"] == detection["box"] and sample["box"]["width"] > 100
    assert sample["detection_score"] == detection["detection_score"] > 0
    assert len(detection["landmarks"]) == 5
    assert sample["chip_url"] == f"{base}/{sample['id']}/chip"
    assert "descriptor" not in sample and "descriptor" not in detection

    b64 = base64.b64encode((faces / "obama2.jpg").read_bytes()).decode()
    by_json = http.post(base, json={"image": b64})
    assert by_json.status_code == 201, by_json.text
    data_url = "data:image/jpeg;base64," + base64.b64encode(
        (faces / "obama3.jpg").read_bytes()).decode()
    by_data_url = http.post(base, json={"image": data_url})
    assert by_data_url.status_code == 201, by_data_url.text

    ids = [sample["id"], by_json.json()["face"]["id"], by_data_url.json()["face"]["id"]]
    assert len(set(ids)) == 3
    listed = http.get(base).json()["items"]
    assert [f["id"] for f in listed] == ids
    assert http.get(f"/v1/identities/{identity['id']}").json()["face_count"] == 3

    one = http.get(f"{base}/{ids[0]}")
    assert one.status_code == 200 and one.json() == listed[0]

    chip = http.get(sample["chip_url"])
    assert chip.status_code == 200
    assert chip.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(chip.content)) as image:
        assert image.format == "JPEG" and image.size == (150, 150)

    deleted = http.delete(f"{base}/{ids[1]}")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": ids[1]}
    assert [f["id"] for f in http.get(base).json()["items"]] == [ids[0], ids[2]]
    gone = http.get(f"{base}/{ids[1]}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "FACE_NOT_FOUND"
    assert http.get(f"/v1/identities/{identity['id']}").json()["face_count"] == 2


def test_face_from_a_descriptor(http: httpx.Client, faces: Path) -> None:
    embedded = http.post("/v1/embed", files=upload(faces / "biden.jpg")).json()
    descriptor = embedded["faces"][0]["descriptor"]
    identity = create(http, f"biden-{uuid.uuid4().hex[:6]}")
    base = f"/v1/identities/{identity['id']}/faces"

    added = http.post(base, json={"descriptor": descriptor})
    assert added.status_code == 201, added.text
    sample = added.json()["face"]
    assert "detection" not in added.json()
    assert sample["chip_url"] is None and sample["box"] is None
    assert sample["detection_score"] is None
    chip = http.get(f"{base}/{sample['id']}/chip")
    assert chip.status_code == 404 and chip.json()["error"]["code"] == "FACE_NOT_FOUND"

    # The enrolled descriptor is exactly what the photo gives: identify finds it at distance ~0.
    found = http.post("/v1/identify", files=upload(faces / "biden.jpg"),
                      data={"top_k": "100"}).json()["faces"][0]
    mine = [c for c in found["candidates"] if c["identity_id"] == identity["id"]]
    assert len(mine) == 1 and mine[0]["distance"] < 1e-4 and mine[0]["face_id"] == sample["id"]
    assert found["status"] == "identified" and found["identity"]["distance"] < 1e-4
    http.delete(f"{base}/{sample['id']}").raise_for_status()  # and a deleted face stops matching
    again = http.post("/v1/identify", files=upload(faces / "biden.jpg"),
                      data={"top_k": "100"}).json()["faces"][0]
    assert identity["id"] not in [c["identity_id"] for c in again["candidates"]]

    # Multipart form: the descriptor as JSON text in a (non-file) form part.
    other = create(http, "biden-form")
    as_form = http.post(f"/v1/identities/{other['id']}/faces",
                        files={"descriptor": (None, str(descriptor))})
    assert as_form.status_code == 201, as_form.text
    assert http.get(f"/v1/identities/{other['id']}").json()["face_count"] == 1


def test_delete_identity_removes_its_faces(http: httpx.Client, faces: Path) -> None:
    identity = create(http, "to-be-deleted")
    base = f"/v1/identities/{identity['id']}/faces"
    assert http.post(base, files=upload(faces / "obama.jpg")).status_code == 201
    assert http.post(base, files=upload(faces / "obama3.jpg")).status_code == 201
    face_ids = [f["id"] for f in http.get(base).json()["items"]]

    def candidates() -> list[str]:
        found = http.post("/v1/identify", files=upload(faces / "obama2.jpg"),
                          data={"top_k": "100"}).json()
        return [c["identity_id"] for c in found["faces"][0]["candidates"]]

    assert identity["id"] in candidates()
    deleted = http.delete(f"/v1/identities/{identity['id']}")
    assert deleted.status_code == 200
    body = deleted.json()
    assert {k: body[k] for k in ("deleted", "faces_deleted")} == {
        "deleted": identity["id"], "faces_deleted": 2}
    assert {k: body["receipt"][k] for k in ("identity_id", "samples", "chips")} == {
        "identity_id": identity["id"], "samples": 2, "chips": 2}

    assert identity["id"] not in candidates()
    for url in (f"/v1/identities/{identity['id']}", base, f"{base}/{face_ids[0]}",
                f"{base}/{face_ids[0]}/chip"):
        response = http.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "IDENTITY_NOT_FOUND"
    again = http.delete(f"/v1/identities/{identity['id']}")
    assert again.status_code == 404


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) >= {"code", "message"}
    code: str = response.json()["error"]["code"]
    return code


def test_unknown_identities_and_faces(http: httpx.Client, faces: Path) -> None:
    owner = create(http, "owner")
    stranger = create(http, "stranger")
    face_id = http.post(f"/v1/identities/{owner['id']}/faces",
                        json={"descriptor": [0.01] * 128}).json()["face"]["id"]
    missing = "0" * 32
    image = {"image": ("o.jpg", (faces / "obama.jpg").read_bytes())}
    for method, url, kwargs in [
        ("GET", f"/v1/identities/{missing}", {}),
        ("PATCH", f"/v1/identities/{missing}", {"json": {"name": "x"}}),
        ("DELETE", f"/v1/identities/{missing}", {}),
        ("GET", f"/v1/identities/{missing}/faces", {}),
        ("POST", f"/v1/identities/{missing}/faces", {"json": {"descriptor": [0.0] * 128}}),
        ("POST", f"/v1/identities/{missing}/faces", {"files": image}),
        ("POST", "/v1/verify", {"files": image, "data": {"identity_id": missing}}),
    ]:
        assert error_code(http.request(method, url, **kwargs), 404) == "IDENTITY_NOT_FOUND", url
    for method, url in [
        ("GET", f"/v1/identities/{owner['id']}/faces/{missing}"),
        ("GET", f"/v1/identities/{owner['id']}/faces/{missing}/chip"),
        ("DELETE", f"/v1/identities/{owner['id']}/faces/{missing}"),
        ("GET", f"/v1/identities/{stranger['id']}/faces/{face_id}"),  # another identity's face
        ("DELETE", f"/v1/identities/{stranger['id']}/faces/{face_id}"),
    ]:
        assert error_code(http.request(method, url), 404) == "FACE_NOT_FOUND", url
    assert http.get(f"/v1/identities/{owner['id']}").json()["face_count"] == 1


def test_duplicates_and_conflicts(http: httpx.Client, faces: Path) -> None:
    first, second = create(http, "dup-a"), create(http, "dup-b")
    photo = (faces / "obama2.jpg").read_bytes()
    added = http.post(f"/v1/identities/{first['id']}/faces", files={"image": ("a.jpg", photo)})
    assert added.status_code == 201
    again = http.post(f"/v1/identities/{first['id']}/faces",
                      json={"image": base64.b64encode(photo).decode()})
    assert error_code(again, 409) == "DUPLICATE_FACE"
    # The same photo may belong to another identity.
    other = http.post(f"/v1/identities/{second['id']}/faces", files={"image": ("a.jpg", photo)})
    assert other.status_code == 201
    descriptor = {"descriptor": [0.02] * 128}
    assert http.post(f"/v1/identities/{second['id']}/faces", json=descriptor).status_code == 201
    repeat = http.post(f"/v1/identities/{second['id']}/faces", json=descriptor)
    assert error_code(repeat, 409) == "DUPLICATE_FACE"
    assert http.get(f"/v1/identities/{first['id']}").json()["face_count"] == 1

    external = f"badge-{uuid.uuid4().hex[:8]}"
    create(http, "holder", external_id=external)
    taken = http.post("/v1/identities", json={"name": "copycat", "external_id": external})
    assert error_code(taken, 409) == "CONFLICT"
    patched = http.patch(f"/v1/identities/{first['id']}", json={"external_id": external})
    assert error_code(patched, 409) == "CONFLICT"
    assert http.get(f"/v1/identities/{first['id']}").json()["external_id"] is None


def test_verify_against_an_identity_without_faces(http: httpx.Client, faces: Path) -> None:
    empty = create(http, "nobody-enrolled")
    image = {"image": ("o.jpg", (faces / "obama.jpg").read_bytes())}
    verify = http.post("/v1/verify", files=image, data={"identity_id": empty["id"]})
    assert error_code(verify, 409) == "IDENTITY_HAS_NO_FACES"

    emptied = create(http, "emptied")
    face = http.post(f"/v1/identities/{emptied['id']}/faces",
                     json={"descriptor": [0.03] * 128}).json()["face"]
    http.delete(f"/v1/identities/{emptied['id']}/faces/{face['id']}").raise_for_status()
    verify = http.post("/v1/verify", files=image, data={"identity_id": emptied["id"]})
    assert error_code(verify, 409) == "IDENTITY_HAS_NO_FACES"


def test_a_face_nearer_another_person_is_enrolled_with_a_warning(
        start_server: Callable[..., LiveServer], faces: Path) -> None:
    with start_server().client() as http:  # a gallery of its own: the warnings name everyone
        obama = create(http, "obama-warned")
        first = http.post(f"/v1/identities/{obama['id']}/faces",
                          files=upload(faces / "obama.jpg"))
        assert first.status_code == 201 and first.json()["warnings"] == []
        # The same man's other photo, given by mistake to somebody else: enrolled, and flagged.
        wrong = create(http, "not-obama")
        mixed = http.post(f"/v1/identities/{wrong['id']}/faces",
                          files=upload(faces / "obama2.jpg"))
        assert mixed.status_code == 201, mixed.text
        [warning] = mixed.json()["warnings"]
        assert warning["code"] == "CLOSER_TO_ANOTHER_PERSON"
        assert warning["identity_id"] == obama["id"] and warning["name"] == "obama-warned"
        assert 0 < warning["distance"] < 0.6 and "obama-warned" in warning["message"]
        # A different man for obama: nobody else is within the threshold, no warning.
        biden = http.post(f"/v1/identities/{obama['id']}/faces",
                          files=upload(faces / "biden.jpg"))
        assert biden.status_code == 201 and biden.json()["warnings"] == []

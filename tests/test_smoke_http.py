"""The main user path over real HTTP: enrol obama, identify obama2, biden is unknown."""

from __future__ import annotations

from pathlib import Path

import httpx


def test_enrol_identify_unknown(client: httpx.Client, faces: Path) -> None:
    created = client.post("/v1/identities", json={"name": "obama"})
    assert created.status_code == 201
    identity_id = created.json()["id"]
    added = client.post(f"/v1/identities/{identity_id}/faces",
                        files={"image": ("obama.jpg", (faces / "obama.jpg").read_bytes())})
    assert added.status_code == 201, added.text

    same = client.post("/v1/identify",
                       files={"image": ("o2.jpg", (faces / "obama2.jpg").read_bytes())}).json()
    assert [f["status"] for f in same["faces"]] == ["identified"]
    assert same["faces"][0]["identity"]["name"] == "obama"
    assert same["faces"][0]["identity"]["distance"] < 0.6

    other = client.post("/v1/identify",
                        files={"image": ("b.jpg", (faces / "biden.jpg").read_bytes())}).json()
    assert [f["status"] for f in other["faces"]] == ["unknown"]
    assert other["faces"][0]["candidates"][0]["distance"] > 0.6

"""POST /v1/identify, /v1/verify, /v1/detect and /v1/embed over real HTTP, on real photos."""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import LiveServer, settings_for
from PIL import Image

from facegate.bootstrap import build, face_reader
from facegate.config import Settings
from facegate.domain import Timings

STAGES = {"decode", "detect", "embed", "match"}


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Iterator[dict[str, Any]]:
    """A live server whose gallery holds only obama (enrolled from obama.jpg)."""
    server = LiveServer(settings_for(tmp_path_factory.mktemp("recognition"))).start()
    with server.client() as http:
        obama = http.post("/v1/identities", json={"name": "obama"}).json()
        added = http.post(f"/v1/identities/{obama['id']}/faces", files=upload(faces, "obama.jpg"))
        assert added.status_code == 201, added.text
        yield {"http": http, "obama": obama}
    server.stop()


@pytest.fixture(scope="module")
def http(gallery: dict[str, Any]) -> httpx.Client:
    client: httpx.Client = gallery["http"]
    return client


@pytest.fixture(scope="module")
def descriptors(http: httpx.Client, faces: Path) -> dict[str, list[float]]:
    """/v1/embed descriptors of the single-face photos, by file name."""
    out = {}
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        embedded = http.post("/v1/embed", files=upload(faces, name)).json()
        assert len(embedded["faces"]) == 1
        out[name] = embedded["faces"][0]["descriptor"]
    return out


def upload(faces: Path, name: str) -> dict[str, tuple[str, bytes]]:
    return {"image": (name, (faces / name).read_bytes())}


def b64(faces: Path, name: str) -> str:
    return base64.b64encode((faces / name).read_bytes()).decode()


def only_face(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    found = response.json()["faces"]
    assert len(found) == 1
    face: dict[str, Any] = found[0]
    return face


def test_identify_names_obama_and_calls_biden_unknown(http: httpx.Client, faces: Path) -> None:
    response = http.post("/v1/identify", files=upload(faces, "obama2.jpg"))
    assert response.json()["image"] == {"width": 626, "height": 1200}
    assert set(response.json()["timings_ms"]) >= STAGES
    known = only_face(response)
    assert known["status"] == "identified"
    assert known["identity"]["name"] == "obama"
    assert known["identity"]["distance"] < 0.6 == known["threshold"]
    assert known["candidates"][0] == known["identity"]

    unknown = only_face(http.post("/v1/identify", json={"image": b64(faces, "biden.jpg")}))
    assert unknown["status"] == "unknown" and unknown["identity"] is None
    assert unknown["candidates"][0]["name"] == "obama"
    assert unknown["candidates"][0]["distance"] > 0.6


def test_identify_reports_every_face_of_a_group(http: httpx.Client, faces: Path) -> None:
    result = http.post("/v1/identify", files=upload(faces, "group6.jpg")).json()
    width, height = result["image"]["width"], result["image"]["height"]
    with Image.open(faces / "group6.jpg") as photo:
        assert (width, height) == photo.size
    assert len(result["faces"]) == 6
    boxes = {tuple(face["box"].values()) for face in result["faces"]}
    assert len(boxes) == 6
    for face in result["faces"]:
        box = face["box"]
        assert 0 <= box["left"] < box["right"] <= width
        assert 0 <= box["top"] < box["bottom"] <= height
        assert box["width"] == box["right"] - box["left"] >= 40
        assert face["detection_score"] > 0
        assert face["status"] == "unknown" and face["identity"] is None  # nobody is obama
        assert [c["name"] for c in face["candidates"]] == ["obama"]
        assert face["candidates"][0]["distance"] > face["threshold"] == 0.6


def test_threshold_per_request_changes_the_decision(http: httpx.Client, faces: Path) -> None:
    near = only_face(http.post("/v1/identify", files=upload(faces, "obama2.jpg")))
    distance = near["identity"]["distance"]
    strict = only_face(http.post("/v1/identify", files=upload(faces, "obama2.jpg"),
                                 data={"threshold": str(round(distance - 0.05, 3))}))
    assert strict["status"] == "unknown" and strict["threshold"] == round(distance - 0.05, 3)
    assert strict["candidates"][0]["distance"] == distance

    far = only_face(http.post("/v1/identify", json={"image": b64(faces, "biden.jpg")}))
    loose_threshold = min(2.0, round(far["candidates"][0]["distance"] + 0.05, 3))
    loose = only_face(http.post("/v1/identify", json={"image": b64(faces, "biden.jpg"),
                                                      "threshold": loose_threshold}))
    assert loose["status"] == "identified" and loose["identity"]["name"] == "obama"


def test_top_k_and_server_matching_settings(
    start_server: Callable[..., LiveServer], faces: Path, descriptors: dict[str, list[float]]
) -> None:
    server = start_server()
    with server.client() as http:
        for name in ("obama.jpg", "biden.jpg"):
            person = http.post("/v1/identities", json={"name": name.split(".")[0]}).json()
            http.post(f"/v1/identities/{person['id']}/faces",
                      json={"descriptor": descriptors[name]}).raise_for_status()
        both = only_face(http.post("/v1/identify", files=upload(faces, "obama2.jpg")))
        assert [c["name"] for c in both["candidates"]] == ["obama", "biden"]
        assert both["candidates"][0]["distance"] < both["candidates"][1]["distance"]
        one = only_face(http.post("/v1/identify", json={"image": b64(faces, "obama2.jpg"),
                                                        "top_k": 1}))
        assert [c["name"] for c in one["candidates"]] == ["obama"]

    strict = start_server(server.settings.data_dir, matching={"threshold": 0.3, "top_k": 1})
    with strict.client() as http:
        face = only_face(http.post("/v1/identify", files=upload(faces, "obama2.jpg")))
        assert face["threshold"] == 0.3 and face["status"] == "unknown"
        assert [c["name"] for c in face["candidates"]] == ["obama"]


def check_verify(response: httpx.Response, *, mode: str, match: bool, faces: int) -> float:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == mode and body["match"] is match
    assert (body["distance"] <= body["threshold"]) is match
    assert len(body["faces"]) == faces
    assert set(body["timings_ms"]) >= STAGES
    assert all(v >= 0 for v in body["timings_ms"].values())
    distance: float = body["distance"]
    return distance


def _enrolment_descriptor(faces: Path, name: str, settings: Settings) -> list[float]:
    """The descriptor enrolment computes for a photo's face (20 views by default)."""
    reading = face_reader(settings).read((faces / name).read_bytes(), "enrol", Timings())
    (face,) = reading.faces
    return [float(v) for v in face.descriptor]


def test_verify_two_images(
    http: httpx.Client, faces: Path, descriptors: dict[str, list[float]]
) -> None:
    second = ("o2.jpg", (faces / "obama2.jpg").read_bytes())
    same = http.post("/v1/verify", files={**upload(faces, "obama.jpg"), "image2": second})
    distance = check_verify(same, mode="image", match=True, faces=2)
    assert same.json()["identity"] is None and same.json()["threshold"] == 0.6
    # neither photo is enrolled: both get the enrolment views (augmentation.photo_pair_views)
    enrolled = {name: _enrolment_descriptor(faces, name, Settings())
                for name in ("obama.jpg", "obama2.jpg")}
    assert distance == pytest.approx(math.dist(enrolled["obama.jpg"], enrolled["obama2.jpg"]),
                                     abs=1e-4)
    one_view = math.dist(descriptors["obama.jpg"], descriptors["obama2.jpg"])
    assert abs(distance - one_view) > 1e-3  # not the probes' one view

    fast = build(Settings(storage={"url": "memory://"},
                          augmentation={"photo_pair_views": "probe"}))
    try:
        result = fast.recognition.verify_images((faces / "obama.jpg").read_bytes(),
                                                (faces / "obama2.jpg").read_bytes())
    finally:
        fast.close()
    assert result.distance == pytest.approx(one_view, abs=1e-4)

    other = http.post("/v1/verify", json={"image": b64(faces, "obama2.jpg"),
                                          "image2": b64(faces, "biden.jpg")})
    assert check_verify(other, mode="image", match=False, faces=2) > 0.6


def test_verify_against_an_enrolled_identity(
    gallery: dict[str, Any], http: httpx.Client, faces: Path
) -> None:
    obama = gallery["obama"]
    yes = http.post("/v1/verify", files=upload(faces, "obama2.jpg"),
                    data={"identity_id": obama["id"]})
    distance = check_verify(yes, mode="identity", match=True, faces=1)
    assert yes.json()["identity"]["id"] == obama["id"]
    assert yes.json()["identity"]["name"] == "obama"
    identified = only_face(http.post("/v1/identify", files=upload(faces, "obama2.jpg")))
    assert distance == identified["identity"]["distance"]

    no = http.post("/v1/verify", json={"image": b64(faces, "biden.jpg"),
                                       "identity_id": obama["id"]})
    assert check_verify(no, mode="identity", match=False, faces=1) > 0.6

    strict = http.post("/v1/verify", json={"image": b64(faces, "obama2.jpg"),
                                           "identity_id": obama["id"],
                                           "threshold": round(distance - 0.05, 3)})
    check_verify(strict, mode="identity", match=False, faces=1)


def test_verify_against_a_descriptor(
    http: httpx.Client, faces: Path, descriptors: dict[str, list[float]]
) -> None:
    reference = descriptors["obama.jpg"]
    yes = http.post("/v1/verify", json={"image": b64(faces, "obama3.jpg"),
                                        "descriptor": reference})
    check_verify(yes, mode="descriptor", match=True, faces=1)

    no = http.post("/v1/verify", files={**upload(faces, "biden.jpg"),
                                        "descriptor": (None, json.dumps(reference))})
    distance = check_verify(no, mode="descriptor", match=False, faces=1)
    assert distance == pytest.approx(math.dist(descriptors["biden.jpg"], reference), abs=1e-4)


def test_detect_boxes_landmarks_and_quality(http: httpx.Client, faces: Path) -> None:
    response = http.post("/v1/detect", files=upload(faces, "group6.jpg"))
    assert response.status_code == 200
    body = response.json()
    assert {"decode", "detect"} <= set(body["timings_ms"]) and "embed" not in body["timings_ms"]
    assert len(body["faces"]) == 6
    for face in body["faces"]:
        box, marks, quality = face["box"], face["landmarks"], face["quality"]
        assert "descriptor" not in face and "status" not in face
        assert len(marks) == 5
        for point in marks:  # the eyes and nose lie inside (or at the edge of) the face box
            assert box["left"] - 5 <= point["x"] <= box["right"] + 5
            assert box["top"] - 5 <= point["y"] <= box["bottom"] + 5
        assert quality["size_px"] == min(box["width"], box["height"])
        assert quality["sharpness"] > 0 and 0 < quality["brightness"] < 255

    single = only_face(http.post("/v1/detect", json={"image": b64(faces, "obama.jpg")}))
    assert 300 < single["box"]["left"] < 420 and 100 < single["box"]["top"] < 200
    assert 200 < single["box"]["width"] < 290


def test_embed_gives_128_numbers_and_is_deterministic(
    http: httpx.Client, faces: Path, descriptors: dict[str, list[float]]
) -> None:
    body = http.post("/v1/embed", json={"image": b64(faces, "obama.jpg")}).json()
    assert body["model"] == "dlib_resnet_v1" and body["metric"] == "euclidean"
    assert STAGES - {"match"} <= set(body["timings_ms"])
    again = body["faces"][0]["descriptor"]
    assert len(again) == 128 and all(isinstance(v, float) for v in again)
    assert math.dist(again, descriptors["obama.jpg"]) < 1e-5
    assert math.dist(descriptors["obama.jpg"], descriptors["obama2.jpg"]) < 0.6
    assert math.dist(descriptors["obama.jpg"], descriptors["biden.jpg"]) > 0.6

    group = http.post("/v1/embed", files=upload(faces, "group6.jpg")).json()
    assert len(group["faces"]) == 6
    assert all(len(face["descriptor"]) == 128 for face in group["faces"])
    areas = [face["box"]["width"] * face["box"]["height"] for face in group["faces"]]
    assert areas == sorted(areas, reverse=True)  # largest first


def _grey16(image: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)  # 16-bit


FORMATS: dict[str, tuple[str, Callable[[Image.Image], Image.Image], set[str]]] = {
    "jpeg": ("JPEG", lambda im: im, {"RGB"}),
    "jpeg-grey": ("JPEG", lambda im: im.convert("L"), {"L"}),
    "png-rgb": ("PNG", lambda im: im, {"RGB"}),
    "png-16bit-grey": ("PNG", _grey16, {"I;16", "I"}),
    "png-palette": ("PNG", lambda im: im.convert("P", palette=Image.Palette.ADAPTIVE), {"P"}),
    "webp": ("WEBP", lambda im: im, {"RGB"}),
    "bmp": ("BMP", lambda im: im, {"RGB"}),
    "gif": ("GIF", lambda im: im.convert("P", palette=Image.Palette.ADAPTIVE), {"P"}),
}
OBAMA_BOX = (364, 152, 604, 392)  # obama.jpg's face: left, top, right, bottom


def near(box: dict[str, int], expected: tuple[int, ...], min_iou: float = 0.7) -> bool:
    """The found box covers the expected face: intersection over union at least ``min_iou``
    (detectors working at different scales draw the same face's box a little differently)."""
    left, top, right, bottom = expected
    inter = max(0, min(box["right"], right) - max(box["left"], left)) * \
        max(0, min(box["bottom"], bottom) - max(box["top"], top))
    union = box["width"] * box["height"] + (right - left) * (bottom - top) - inter
    return inter / union >= min_iou


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_image_formats_decode_and_find_the_face(
    http: httpx.Client, faces: Path, tmp_path: Path, kind: str
) -> None:
    fmt, convert, modes = FORMATS[kind]
    path = tmp_path / f"obama.{fmt.lower()}"
    with Image.open(faces / "obama.jpg") as original:
        convert(original.convert("RGB")).save(path, fmt)
    with Image.open(path) as saved:  # the file really is what this case claims
        assert saved.format == fmt and saved.mode in modes
        if kind == "png-16bit-grey":
            assert saved.getextrema()[1] > 255
    body = http.post("/v1/detect", files={"image": (path.name, path.read_bytes())}).json()
    assert body["image"] == {"width": 910, "height": 1137}
    assert len(body["faces"]) == 1 and near(body["faces"][0]["box"], OBAMA_BOX)


def test_rgba_png_decodes(http: httpx.Client, faces: Path) -> None:
    with Image.open(faces / "32bit.png") as image:
        assert image.mode == "RGBA"
    face = only_face(http.post("/v1/identify", files=upload(faces, "32bit.png")))
    assert face["status"] == "identified" and face["identity"]["name"] == "obama"


def test_exif_orientation_is_applied(http: httpx.Client, faces: Path, tmp_path: Path) -> None:
    with Image.open(faces / "obama.jpg") as original:
        upright = original.convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # lying on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise for display, which undoes ROTATE_90
    path = tmp_path / "rotated.jpg"
    stored.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    with Image.open(path) as saved:
        assert saved.size == (1137, 910) and saved.getexif()[0x0112] == 6
    body = http.post("/v1/detect", files={"image": (path.name, path.read_bytes())}).json()
    assert body["image"] == {"width": 910, "height": 1137}  # upright coordinates
    assert len(body["faces"]) == 1 and near(body["faces"][0]["box"], OBAMA_BOX)

    damaged = tmp_path / "damaged-exif.jpg"  # EXIF claims 5 entries and holds half of one
    upright.save(damaged, "JPEG", exif=b"Exif\0\0MM\0*\0\0\0\x08\0\x05\x01\x12\0\x03\0\0\0\x01\0")
    response = http.post("/v1/detect", files={"image": (damaged.name, damaged.read_bytes())})
    assert response.status_code == 200 and len(response.json()["faces"]) == 1


def test_a_small_face_crop_is_named_and_the_opt_in_crop_path_keeps_its_descriptor_close(
        http: httpx.Client, faces: Path, tmp_path: Path) -> None:
    """A 150 px LFW-style crop is named by the default server (the whole-photo passes); with
    the opt-in crop path (detection.crop_model = short) the short-range model alone finds it,
    and the descriptor stays close to the passes' one."""
    box = only_face(http.post("/v1/detect", files=upload(faces, "obama2.jpg")))["box"]
    cx, cy = (box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2
    half = 0.8 * max(box["width"], box["height"])
    buffer = io.BytesIO()
    with Image.open(faces / "obama2.jpg") as photo:
        photo.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half))
                   ).resize((150, 150), Image.Resampling.BILINEAR).save(buffer, "JPEG")
    crop = buffer.getvalue()
    named = only_face(http.post("/v1/identify", files={"image": ("crop.jpg", crop)}))
    assert named["status"] == "identified" and named["identity"]["name"] == "obama"
    by_passes = only_face(http.post("/v1/embed", files={"image": ("crop.jpg", crop)}))
    cropped = settings_for(tmp_path, detection={"crop_model": "short"})
    (by_crop,) = face_reader(cropped).faces(crop, Timings())[1]
    assert 0.75 <= by_crop.detection.score < 1
    assert math.dist(by_passes["descriptor"], by_crop.descriptor.tolist()) < 0.1

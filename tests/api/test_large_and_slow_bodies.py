"""The worst inputs over real HTTP: 40 MP photos (16-bit grey PNG, JPEG, RGBA PNG) are answered
with their face in original-photo pixels; a body that stalls gets 408 REQUEST_TIMEOUT; a full
server refuses with 503 OVERLOADED before it reads the body; the bytes-in-flight cap refuses
with 503 OVERLOADED and Retry-After. (Memory figures are in bench/memory, not here.)"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from conftest import LiveServer, settings_for
from PIL import Image

from facegate.matching import distance

WIDTH, HEIGHT = 7296, 5472  # 39.9 MP, under the default 40 MP limit
AT = (3000, 1500)  # where the face photo is pasted, twice its size


@pytest.fixture(scope="module")
def big_photos(faces: Path) -> dict[str, bytes]:
    """obama.jpg, doubled, on a 40 MP canvas, in the three worst encodings."""
    face = Image.open(faces / "obama.jpg").convert("RGB")
    face = face.resize((face.width * 2, face.height * 2), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (WIDTH, HEIGHT), (90, 110, 130))
    canvas.paste(face, AT)
    grey = np.asarray(canvas.convert("L"), dtype=np.uint16) * 257
    rgba = canvas.convert("RGBA")
    rgba.putalpha(230)
    return {"grey16.png": _encoded(Image.fromarray(grey), "PNG"),
            "big.jpg": _encoded(canvas, "JPEG"), "rgba.png": _encoded(rgba, "PNG")}


def _encoded(image: Image.Image, kind: str) -> bytes:
    """JPEG at quality 90; PNG at zlib level 1 (the decoded pixels, the point here, are the
    same at every level; level 6 only takes longer to write)."""
    buffer = io.BytesIO()
    image.save(buffer, format=kind,
               **({"quality": 90} if kind == "JPEG" else {"compress_level": 1}))
    return buffer.getvalue()


def test_forty_megapixel_photos_are_read_in_original_pixels(
    server: LiveServer, faces: Path, big_photos: dict[str, bytes]
) -> None:
    with server.client() as http:
        alone = http.post("/v1/embed", files={"image": ("o.jpg", (faces / "obama.jpg")
                                                         .read_bytes())})
        assert alone.status_code == 200, alone.text
        reference = np.asarray(alone.json()["faces"][0]["descriptor"], dtype=np.float32)
        box_alone = alone.json()["faces"][0]["box"]
        for name, data in big_photos.items():
            response = http.post("/v1/embed", files={"image": (name, data)})
            assert response.status_code == 200, (name, response.text)
            body = response.json()
            assert body["image"] == {"width": WIDTH, "height": HEIGHT}, name
            assert len(body["faces"]) == 1, name
            found = body["faces"][0]
            # The box is in the 40 MP photo's pixels: where the doubled face was pasted.
            for side, origin in (("left", AT[0]), ("right", AT[0]), ("top", AT[1]),
                                 ("bottom", AT[1])):
                assert abs(found["box"][side] - (origin + 2 * box_alone[side])) < 60, name
            descriptor = np.asarray(found["descriptor"], dtype=np.float32)
            # Same person, same photo: far closer than the 0.6 threshold.
            assert distance(reference, descriptor) < 0.3, name
        blank = http.post("/v1/identify", files={"image": ("b.png", _blank_grey16())})
        assert blank.status_code == 422 and blank.json()["error"]["code"] == "NO_FACE_FOUND"


def _blank_grey16() -> bytes:
    return _encoded(Image.fromarray(np.full((HEIGHT, WIDTH), 30_000, dtype=np.uint16)), "PNG")


@contextmanager
def stalled(server: LiveServer, *, declared: int, path: str = "/v1/identify",
            content_type: str = "application/json") -> Iterator[socket.socket]:
    """A request that declares ``declared`` body bytes and sends only the first few."""
    url = urlsplit(server.url)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=30)
    try:
        first = b'{"image": "' if content_type == "application/json" else (
            b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
            b"\xff\xd8\xff")
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {declared}\r\n\r\n".encode() + first)
        yield sock
    finally:
        sock.close()


def answer(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    """Status, headers and JSON body of the response on ``sock``."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers = {k.lower(): v for k, v in headers.items()}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body)


def _code(body: dict[str, object]) -> object:
    error = body["error"]
    assert isinstance(error, dict)
    return error["code"]


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with one worker slot, no queue and a 2 s body timeout, shared by the stall
    tests: each ends with its stalled request answered 408, so the slot is free again."""
    server = LiveServer(settings_for(tmp_path_factory.mktemp("one-slot"), server={
        "workers": 1, "max_queue": 0, "body_timeout_s": 2.0})).start()
    yield server
    server.stop()


@pytest.mark.parametrize("content_type", ["application/json",
                                          "multipart/form-data; boundary=x"])
def test_a_stalled_body_is_answered_408_and_frees_its_slot(
    one_slot: LiveServer, faces: Path, content_type: str
) -> None:
    server = one_slot
    with stalled(server, declared=500_000, content_type=content_type) as sock:
        status, headers, body = answer(sock)
    assert status == 408, body
    assert _code(body) == "REQUEST_TIMEOUT"
    # The only slot is free again: a whole photo is answered.
    with server.client() as http:
        response = http.post("/v1/identify",
                             files={"image": ("o.jpg", (faces / "obama.jpg").read_bytes())})
    assert response.status_code == 200, response.text


def test_a_full_server_refuses_before_reading_the_body(one_slot: LiveServer) -> None:
    server = one_slot
    with stalled(server, declared=500_000) as holder:
        # The holder is admitted (it is reading its body). Another request sends its headers
        # and not one byte of its body: it is refused at once, so the body was never waited for.
        with stalled(server, declared=2_000_000, path="/v1/detect") as second:
            status, headers, body = answer(second)
        assert status == 503 and _code(body) == "OVERLOADED", body
        assert headers["retry-after"] == "1"
        assert answer(holder)[0] == 408


def test_bodies_over_the_bytes_in_flight_cap_are_refused_503(
    start_server: Callable[..., LiveServer], faces: Path,
) -> None:
    # 1 MB images: the largest body is about 2.9 MB, which is the cap's floor.
    server = start_server(image={"max_upload_bytes": 1_000_000},
                          server={"max_body_bytes_in_flight": 3_000_000, "body_timeout_s": 3.0})
    photo = (faces / "obama.jpg").read_bytes()
    with stalled(server, declared=2_500_000) as holder:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            refused = http.post("/v1/detect", files={"image": ("o.jpg", photo * 3)})
            small = http.post("/v1/detect", files={"image": ("o.jpg", photo)})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "OVERLOADED"
        assert refused.headers["Retry-After"] == "1"
        assert small.status_code == 200, small.text  # what fits beside it is let in
        assert answer(holder)[0] == 408
    with server.client() as http:  # the holder's bytes were given back
        again = http.post("/v1/detect", files={"image": ("o.jpg", photo * 3)})
    assert again.status_code in (200, 400), again.text  # three JPEGs in a row: one photo

"""/v1/liveness over real HTTP on real clip frames: the blink check (multipart frames, base64
frames, a video) and challenge-response session round trips (issue 6).

Sequences are cut from the clips of ``../shared/faces/blink``: ``liveportrait_d18`` opens its
mouth (frames ~64-96) and then blinks (94-99); ``tpsmm_driving`` turns its head about 20 degrees
to the person's left between frames ~90 and ~140; the same frames mirrored are a turn to the
right. The session's actions are set through the server's own session book (clients cannot
choose them); everything else goes over HTTP.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, settings_for
from liveness_frames import folder_files, jpeg, video_frames

from facegate.services.liveness_sessions import SessionBook

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_faces: Path) -> Iterator[LiveServer]:
    live = LiveServer(settings_for(tmp_path_factory.mktemp("liveness"),
                                   server={"isolation": "thread"})).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def book(server: LiveServer) -> SessionBook:
    sessions: SessionBook = server.app.state.liveness_sessions
    return sessions


@pytest.fixture(scope="module")
def blink_dir(shared_faces: Path) -> Path:
    return shared_faces / "blink"


def _files(frames: list[bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("frames", (f"{i:04d}.jpg", data, "image/jpeg")) for i, data in enumerate(frames)]


def _post_frames(http: httpx.Client, session: dict[str, Any], frames: list[bytes],
                 fps: float) -> httpx.Response:
    return http.post(f"/v1/liveness/sessions/{session['id']}/frames", files=_files(frames),
                     data={"nonce": session["nonce"], "fps": str(fps)})


def _session(book: SessionBook, *actions: Any, ttl_s: float | None = None) -> dict[str, Any]:
    made = book.create(actions=tuple(actions), ttl_s=ttl_s)
    return {"id": made.id, "nonce": made.nonce}


def _d18(blink_dir: Path, offset: int) -> list[bytes]:
    frames, _ = video_frames(blink_dir / "videos" / "liveportrait_d18.mp4")
    return [jpeg(frames[i]) for i in range(56 + offset, 111, 2)]  # 15 fps


def _tpsmm(blink_dir: Path, offset: int, *, mirror: bool) -> list[bytes]:
    frames, _ = video_frames(blink_dir / "videos" / "tpsmm_driving.mp4")
    return [jpeg(frames[i], mirror=mirror) for i in range(60 + offset, 151, 3)]


def test_blink_from_multipart_frames(http: httpx.Client, blink_dir: Path) -> None:
    files = folder_files(blink_dir / "frames" / "liveportrait_d18_blink")
    response = http.post("/v1/liveness/blink", files=_files([f.read_bytes() for f in files]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["live"] is True and body["reasons"] == [] and body["winks"] == []
    [blink] = body["blinks"]
    assert blink["start"] >= 13 and blink["end"] <= 19  # frame_0093 .. frame_0099
    assert len(body["frames"]) == 32
    closed = [f["right_relative"] for f in body["frames"][14:18]]
    assert max(closed) < 0.6 and body["frames"][5]["right_relative"] > 0.8
    assert "descriptor" not in str(body)


def test_winks_from_base64_frames(http: httpx.Client, blink_dir: Path) -> None:
    files = folder_files(blink_dir / "frames" / "liveportrait_d19_winks")
    frames = [base64.b64encode(f.read_bytes()).decode() for f in files]
    body = http.post("/v1/liveness/blink", json={"frames": frames}).json()
    assert body["live"] is False and body["blinks"] == [] and body["winks"]
    assert [r["code"] for r in body["reasons"]] == ["NO_BLINK"]


def test_blink_from_a_video(http: httpx.Client, blink_dir: Path) -> None:
    video = (blink_dir / "videos" / "liveportrait_d18.mp4").read_bytes()
    response = http.post("/v1/liveness/blink", files={"video": ("d18.mp4", video, "video/mp4")})
    body = response.json()
    # 216 frames, past FACEGATE_LIVENESS__VIDEO_FRAMES (150): every 2nd frame, at 15 fps
    assert body["sampling"]["step"] == 2 and body["frame_count"] == 108
    assert body["live"] is True and body["fps"] == pytest.approx(15.0)
    # shut 94-97 (the clip's README: closed 94-97, open before 93 and after 99), so kept
    # frames 47-48; the track's held boxes can move the reopening a frame
    assert any(b["closed_start"] >= 46 and b["closed_end"] <= 50 and b["start"] >= 45
               and b["end"] <= 51 for b in body["blinks"]), body["blinks"]


def test_bad_sequences_get_stable_codes(http: httpx.Client) -> None:
    garbage = http.post("/v1/liveness/blink",
                        files={"video": ("x.mp4", b"not a video", "video/mp4")})
    assert (garbage.status_code, garbage.json()["error"]["code"]) == (400, "INVALID_VIDEO")
    empty = http.post("/v1/liveness/blink", json={"fps": 30})
    assert (empty.status_code, empty.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    bad = http.post("/v1/liveness/blink", json={"frames": [base64.b64encode(b"xx").decode()]})
    assert bad.status_code in (400, 415)


def test_sessions_are_random_and_fresh(http: httpx.Client) -> None:
    made = [http.post("/v1/liveness/sessions") for _ in range(12)]
    assert {m.status_code for m in made} == {201}
    bodies = [m.json() for m in made]
    assert len({b["id"] for b in bodies}) == 12 and len({b["nonce"] for b in bodies}) == 12
    for body in bodies:
        assert 2 <= len(body["actions"]) <= 3 and len(set(body["actions"])) == len(body["actions"])
        assert set(body["actions"]) <= {"blink", "turn_left", "turn_right", "smile"}
        assert body["expires_at"] > time.time()
    assert len({tuple(b["actions"]) for b in bodies}) > 1


def test_session_round_trip_then_used_and_replayed(http: httpx.Client, book: SessionBook,
                                                   blink_dir: Path) -> None:
    frames = _d18(blink_dir, 0)
    session = _session(book, "smile", "blink")
    response = _post_frames(http, session, frames, 15)
    body = response.json()
    assert response.status_code == 200 and body["live"] is True, body["reasons"]
    assert [a["done"] for a in body["actions"]] == [True, True]
    assert body["actions"][0]["frame"] < body["actions"][1]["frame"]
    best = body["best"]
    assert len(best["descriptor"]) == 128
    # the same person: the best frame's descriptor verifies against a photo from the clip
    photo = (blink_dir / "frames" / "liveportrait_d18_blink" / "frame_0080.jpg").read_bytes()
    verify = http.post("/v1/verify", files={"image": ("a.jpg", photo, "image/jpeg")},
                       data={"descriptor": str(best["descriptor"])}).json()
    assert verify["match"] is True
    again = _post_frames(http, session, frames, 15)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "LIVENESS_SESSION_USED")
    replay = _post_frames(http, _session(book, "smile", "blink"), frames, 15).json()
    assert replay["live"] is False and "REPLAYED_FRAMES" in [r["code"] for r in replay["reasons"]]


def test_out_of_order_actions_fail(http: httpx.Client, book: SessionBook,
                                   blink_dir: Path) -> None:
    body = _post_frames(http, _session(book, "blink", "smile"), _d18(blink_dir, 1), 15).json()
    assert body["live"] is False
    assert [a["done"] for a in body["actions"]] == [True, False]
    assert [r["code"] for r in body["reasons"]] == ["ACTIONS_NOT_PERFORMED"]


@pytest.mark.parametrize(("mirror", "asked", "live"), [
    (False, "turn_left", True), (True, "turn_right", True), (True, "turn_left", False)])
def test_head_turns(http: httpx.Client, book: SessionBook, blink_dir: Path, mirror: bool,
                    asked: str, live: bool) -> None:
    offset = {("turn_left", False): 0, ("turn_right", True): 1, ("turn_left", True): 2}
    frames = _tpsmm(blink_dir, offset[(asked, mirror)], mirror=mirror)
    body = _post_frames(http, _session(book, asked), frames, 25 / 3).json()
    assert body["live"] is live, (body["reasons"], [f["yaw_deg"] for f in body["frames"]])


def test_expired_unknown_and_wrong_nonce(http: httpx.Client, book: SessionBook,
                                         blink_dir: Path) -> None:
    frames = _d18(blink_dir, 0)[:8]
    expired = _session(book, "blink", ttl_s=0.01)
    time.sleep(0.05)
    response = _post_frames(http, expired, frames, 15)
    assert (response.status_code, response.json()["error"]["code"]) == \
        (410, "LIVENESS_SESSION_EXPIRED")
    unknown = _post_frames(http, {"id": "0" * 32, "nonce": "x"}, frames, 15)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == \
        (404, "LIVENESS_SESSION_NOT_FOUND")
    wrong = _post_frames(http, {**_session(book, "blink"), "nonce": "guess"}, frames, 15)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (409, "LIVENESS_ERROR")


def _enrol(http: httpx.Client, name: str, photo: Path) -> str:
    identity = http.post("/v1/identities", json={"name": name}).json()
    added = http.post(f"/v1/identities/{identity['id']}/faces",
                      files={"image": (photo.name, photo.read_bytes(), "image/jpeg")})
    assert added.status_code == 201, added.text
    return str(identity["id"])


def test_identify_and_verify_with_liveness_in_one_call(http: httpx.Client,
                                                       blink_dir: Path) -> None:
    d18_dir = blink_dir / "frames" / "liveportrait_d18_blink"
    d19_dir = blink_dir / "frames" / "liveportrait_d19_winks"
    d18_id = _enrol(http, "d18 speaker", d18_dir / "frame_0080.jpg")
    d19_id = _enrol(http, "d19 speaker", d19_dir / "frame_0030.jpg")
    d18 = [f.read_bytes() for f in folder_files(d18_dir)]
    found = http.post("/v1/identify?liveness=blink", files=_files(d18)).json()
    assert found["live"] is True and found["liveness"]["blinks"]
    [face] = found["identify"]["faces"]
    assert face["status"] == "identified" and face["identity"]["identity_id"] == d18_id
    said = http.post("/v1/feedback", json={"request_id": found["identify"]["request_id"],
                                           "face_index": 0, "verdict": "correct"})
    assert said.status_code == 200 and said.json()["verdict"] == "correct"  # its probe was kept
    same = http.post("/v1/verify?liveness=blink", files=_files(d18),
                     data={"identity_id": d18_id}).json()
    assert same["live"] is True and same["match"] is True
    assert same["verify"]["request_id"] not in (None, found["identify"]["request_id"])
    other = http.post("/v1/verify?liveness=blink", files=_files(d18),
                      data={"identity_id": d19_id}).json()
    assert other["live"] is True and other["match"] is False
    winks = [f.read_bytes() for f in folder_files(d19_dir)][:40]
    spoof = http.post("/v1/liveness/verify", json={
        "frames": [base64.b64encode(f).decode() for f in winks], "identity_id": d19_id}).json()
    assert spoof["live"] is False and spoof["match"] is False and spoof["verify"] is None
    assert "NO_BLINK" in [r["code"] for r in spoof["liveness"]["reasons"]]
    plain = http.post("/v1/verify", files={"image": ("a.jpg", d18[0], "image/jpeg")},
                      data={"identity_id": d18_id}).json()
    assert plain["match"] is True  # without ?liveness the route is unchanged


def _selfie_video(blink_dir: Path, path: Path) -> bytes:
    """A 720x1280, 12 s, 30 fps phone selfie video (MPEG-4 in MP4) of d18's real frames:
    upscaled to 720x720, the frame's edges stretched to 1280 tall, played forwards (the blinks
    at 93-99 and 186-187) then backwards from frame 214 to 71."""
    import cv2

    frames, _ = video_frames(blink_dir / "videos" / "liveportrait_d18.mp4")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (720, 1280))
    for index in [*range(216), *range(214, 70, -1)]:
        big = cv2.resize(frames[index][:, :, ::-1], (720, 720), interpolation=cv2.INTER_CUBIC)
        writer.write(cv2.copyMakeBorder(big, 280, 280, 0, 0, cv2.BORDER_REPLICATE))
    writer.release()
    return path.read_bytes()


def test_a_12_second_720x1280_video_is_sampled_not_refused(
        http: httpx.Client, blink_dir: Path, tmp_path: Path) -> None:
    video = _selfie_video(blink_dir, tmp_path / "selfie.mp4")
    response = http.post("/v1/liveness/blink",
                         files={"video": ("selfie.mp4", video, "video/mp4")})
    assert response.status_code == 200, response.text
    body = response.json()
    # FACEGATE_LIVENESS__VIDEO_FRAMES (150): every 3rd frame, 10 fps
    assert body["sampling"] == {"step": 3, "source_frames": 360, "source_fps": 30.0,
                                "scale": 0.5}
    assert body["frame_count"] == 120 and body["fps"] == pytest.approx(10.0)
    assert body["live"] is True, body["reasons"]
    # frame i of the answer is frame 3i of the video: d18's blink at 93-99 near 31-33
    assert any(30 <= b["closed_start"] <= b["closed_end"] <= 34 for b in body["blinks"]), \
        body["blinks"]
    assert body["frames"][0]["box"]["right"] <= 360  # boxes in the downscaled frames


def test_the_video_budget_cannot_pass_the_frame_list_limit() -> None:
    import pydantic

    from facegate.config import Settings

    assert Settings().liveness.video_frames == 150
    assert Settings(liveness={"video_frames": 300}).liveness.video_frames == 300
    with pytest.raises(pydantic.ValidationError, match="video_frames .400. must be at most"):
        Settings(liveness={"video_frames": 400})

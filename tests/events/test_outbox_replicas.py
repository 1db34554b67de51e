"""Two ``facegate serve`` processes on one PostgreSQL share one outbox: each event is delivered
once, in the order written, whichever replica took the request. Real processes, real HTTP,
real PostgreSQL, real faces.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conftest import spawned
from webhook_receiver import Receiver

from events.outbox_calls import PHOTOS, events_env, identify


def test_two_servers_on_one_postgres_deliver_each_event_once(
        postgres_url: str, tmp_path: Path, faces: Path) -> None:
    receiver = Receiver().start()
    env = events_env(receiver.url)
    specs = [(tmp_path / f"replica{n}", ["--storage-url", postgres_url], env) for n in (0, 1)]
    try:
        with spawned(specs, together=True) as (a, b):
            sent: list[str] = []
            for turn in range(4):
                for http, camera in ((a, "cam-a"), (b, "cam-b")):
                    sent += identify(http, faces, PHOTOS[turn], camera)
                    created = http.post("/v1/identities", json={"name": f"p{turn}{camera}"})
                    sent.append(created.headers["x-request-id"])
            got = receiver.wait_for(len(sent))
            every = Counter(r.payload["id"] for r in receiver.received)
            assert set(every.values()) == {1}, "an event was delivered twice"
            assert [e["request_id"] for e in got] == sent  # one outbox, in order
            for replica in (a, b):
                assert replica.get("/readyz").json()["events"]["backlog"] == 0
    finally:
        receiver.stop()

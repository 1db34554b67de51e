"""``facegate serve`` over HTTPS, checked by a client that verifies the certificate.

Real ``facegate serve`` processes: a self-signed pair made once in ``<data>/tls/`` and reused,
the operator's own files, and a plain server beyond loopback that warns. The first server also
runs with the rate limit off (0), so it shows that many recognition requests then all pass.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import NO_CNN_FALLBACK, facegate_command, free_port, spawn_server
from typer.testing import CliRunner

from facegate.cli import app
from facegate.tls import self_signed

KEY = "tls-test-key-0123"


@contextmanager
def serving(data_dir: Path, port: int, *extra: str, log: Path,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``facegate serve`` with its log in ``log``; ready once /readyz answers over HTTPS."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*facegate_command(), "serve", "--port", str(port), "--data-dir", str(data_dir),
             *extra], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **NO_CNN_FALLBACK, **(env or {})})
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "facegate serve did not become ready"
            try:  # readiness only: the tests verify the certificate themselves
                if httpx.get(f"https://127.0.0.1:{port}/readyz", verify=False,
                             timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def sha256_fingerprint(cert: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return hashlib.sha256(der).hexdigest().upper()


def printed_fingerprint(log: Path) -> str:
    line = next(x for x in log.read_text().splitlines() if "SHA-256 fingerprint" in x)
    return line.rsplit("fingerprint ", 1)[1].rstrip(")").replace(":", "")


def test_self_signed_https_verified_against_the_made_file_and_reused(tmp_path: Path,
                                                                      faces: Path) -> None:
    data, port = tmp_path / "data", free_port()
    cert, key = data / "tls" / "cert.pem", data / "tls" / "key.pem"
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    photo = (faces / "obama.jpg").read_bytes()
    off = {"FACEGATE_RATE__RECOGNIZE_PER_MINUTE": "0", "FACEGATE_RATE__RECOGNIZE_BURST": "1"}
    with serving(data, port, "--tls-self-signed", log=first, env=off):
        assert key.stat().st_mode & 0o777 == 0o600
        assert printed_fingerprint(first) == sha256_fingerprint(cert)
        for host in ("127.0.0.1", "localhost"):  # both named in the certificate
            with httpx.Client(base_url=f"https://{host}:{port}", verify=trusting(cert),
                              timeout=60) as https:
                answer = https.get("/v1/identities", headers={"X-Request-ID": "tls-test-1"})
                assert answer.status_code == 200
                assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
                assert answer.headers["X-Request-ID"] == "tls-test-1"
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trusting(cert),
                          timeout=60) as https:
            statuses = {https.post("/v1/detect", files={"image": ("o.jpg", photo)}).status_code
                        for _ in range(4)}
            assert statuses == {200}  # the limit is off: burst 1 would refuse the second
        with pytest.raises(httpx.ConnectError):  # the system's CAs do not know this one
            httpx.get(f"https://127.0.0.1:{port}/readyz", timeout=10)
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert "[tls-test-1]" in first.read_text()  # the access line names the request
    made = cert.read_bytes(), key.read_bytes()
    with serving(data, port, "--tls-self-signed", log=second), \
            httpx.Client(verify=trusting(cert), timeout=60) as https:
        assert https.get(f"https://localhost:{port}/readyz").status_code == 200
    assert (cert.read_bytes(), key.read_bytes()) == made  # reused, not made again
    assert printed_fingerprint(second) == printed_fingerprint(first)
    assert "TLS: using certificate" in second.read_text()


def test_own_certificate_files_beyond_loopback(tmp_path: Path) -> None:
    made = tmp_path / "made"
    runner_data, port = tmp_path / "data", free_port()
    # A pair made for the name "facegate.test" stands in for the operator's own files.
    pair = self_signed(made, ["facegate.test", "127.0.0.1"])
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(pair.cert, own / "server.crt")
    shutil.copy(pair.key, own / "server.key")
    log = tmp_path / "own.log"
    with serving(runner_data, port, "--host", "0.0.0.0", "--api-key", KEY,
                 "--tls-cert", str(own / "server.crt"), "--tls-key", str(own / "server.key"),
                 log=log), httpx.Client(verify=trusting(own / "server.crt"), timeout=60) as https:
        answer = https.get(f"https://127.0.0.1:{port}/v1/identities", headers={"X-API-Key": KEY})
        assert answer.status_code == 200
        assert "Strict-Transport-Security" in answer.headers
        with pytest.raises(httpx.ConnectError):  # "localhost" is not in this certificate
            https.get(f"https://localhost:{port}/readyz")
    assert printed_fingerprint(log) == sha256_fingerprint(own / "server.crt")
    assert "plain HTTP" not in log.read_text()
    assert not (runner_data / "tls").exists()


def test_plain_http_beyond_loopback_warns(tmp_path: Path) -> None:
    port = free_port()
    process = spawn_server(tmp_path / "data", port, "--host", "0.0.0.0", "--api-key", KEY,
                           env=NO_CNN_FALLBACK)
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert "Strict-Transport-Security" not in answer.headers
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stderr is not None
        log = process.stderr.read().decode()
        process.stderr.close()
    assert "over plain HTTP" in log and "unencrypted" in log


@pytest.mark.parametrize(("given", "problem"), [
    (["--tls-cert", "{cert}"], "give both tls_cert and tls_key"),
    (["--tls-key", "{cert}"], "give both tls_cert and tls_key"),
    (["--tls-cert", "{cert}", "--tls-key", "{missing}"], "does not exist"),
    (["--tls-self-signed", "--tls-cert", "{cert}", "--tls-key", "{cert}"], "leave tls_cert"),
])
def test_tls_options_that_do_not_fit_are_refused(tmp_path: Path, given: list[str],
                                                 problem: str) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not checked before the options fit\n")
    args = [a.format(cert=cert, missing=tmp_path / "missing.pem") for a in given]
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), *args])
    assert result.exit_code == 2, result.output
    assert problem in result.output

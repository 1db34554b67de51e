"""TLS for ``facegate serve``: which certificate and key to serve, and the self-signed pair.

``--tls-self-signed`` makes, once, ``<data_dir>/tls/cert.pem`` and ``tls/key.pem`` (an ECDSA
P-256 key, mode 0600, in a 0700 folder) for the host names given, valid 825 days; later
starts reuse them (a new pair is made only when one file is missing or the certificate has
expired). Clients pin the printed SHA-256 fingerprint or trust ``cert.pem`` itself.
Imports nothing from facegate but the settings.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from facegate.config import ServerSettings

FOLDER = "tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALID_DAYS = 825  # the longest validity browsers accept for a certificate they are told to trust

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path
    #: SHA-256 of the certificate (DER), as ``AB:CD:...`` (what ``openssl x509 -fingerprint
    #: -sha256`` prints).
    fingerprint: str
    #: True when this start made the self-signed pair.
    created: bool = False


def default_hosts(host: str) -> list[str]:
    """localhost, 127.0.0.1, ::1 and the listening address unless it is a wildcard."""
    hosts = ["localhost", "127.0.0.1", "::1"]
    if host not in ("0.0.0.0", "::", "") and host not in hosts:
        hosts.append(host)
    return hosts


def tls_files(server: ServerSettings, data_dir: Path) -> TlsFiles | None:
    """What to serve HTTPS with (None: plain HTTP), making the self-signed pair if needed."""
    if server.tls_cert is not None and server.tls_key is not None:
        return TlsFiles(server.tls_cert, server.tls_key, fingerprint(server.tls_cert))
    if server.tls_self_signed:
        return self_signed(data_dir / FOLDER, server.tls_hosts or default_hosts(server.host))
    return None


def fingerprint(cert_file: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def self_signed(folder: Path, hosts: list[str]) -> TlsFiles:
    """The pair in ``folder``: reused when both files are there and still valid, else made."""
    cert_file, key_file = folder / CERT_FILE, folder / KEY_FILE
    if cert_file.is_file() and key_file.is_file():
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        if cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
            _warn_missing_hosts(cert, hosts, folder)
            return TlsFiles(cert_file, key_file, fingerprint(cert_file))
        logger.warning("the self-signed certificate in %s has expired: making a new one", folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    _write(key_file, key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), mode=0o600)
    _write(cert_file, _certificate(key, hosts).public_bytes(serialization.Encoding.PEM),
           mode=0o644)
    return TlsFiles(cert_file, key_file, fingerprint(cert_file), created=True)


def _certificate(key: ec.EllipticCurvePrivateKey, hosts: list[str]) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "facegate"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "facegate (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public),
                       critical=False)
        .sign(key, hashes.SHA256())
    )


def _names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _warn_missing_hosts(cert: x509.Certificate, hosts: list[str], folder: Path) -> None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return
    have = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    have |= set(san.get_values_for_type(x509.DNSName))
    missing = [h for h in hosts if str(_normal(h)) not in have]
    if missing:
        logger.warning("the self-signed certificate in %s is not for %s: delete the folder to "
                       "make a new one", folder, ", ".join(missing))


def _normal(host: str) -> object:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return host


def _write(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data``, created with ``mode`` (never readable by others first)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(descriptor, mode)  # whatever the umask
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)

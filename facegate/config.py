"""One validated settings class, read from ``FACEGATE_*`` environment variables.

Nested fields use ``__``: ``FACEGATE_MATCHING__THRESHOLD=0.55``,
``FACEGATE_SERVER__API_KEYS=key1,key2``, ``FACEGATE_STORAGE__URL=sqlite:////var/lib/facegate/g.db``.
Only entry points (CLI, ``facegate serve``) build it; everything else receives it. Imports nothing
from facegate but the other ``config_*`` modules (more sections, leaves too).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from facegate.config_access import AuditSettings, AuthSettings, RateSettings, split_commas
from facegate.config_compat import CompatSettings
from facegate.config_detection import DetectionSettings as DetectionSettings
from facegate.config_events import EventsSettings, MetricsSettings
from facegate.config_feedback import FeedbackSettings
from facegate.config_governance import GovernanceSettings
from facegate.config_liveness import LivenessSettings
from facegate.config_models import ModelsSettings
from facegate.config_review import ReviewSettings

DEFAULT_PORT = 8600
#: Written by ``facegate calibrate --apply`` in the data folder; its threshold applies if unset.
CALIBRATION_FILE = "calibration.json"


class ImageSettings(BaseModel):
    #: Uploads larger than this are refused with IMAGE_TOO_LARGE (bytes).
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: A zip of labelled photos sent to POST /v1/train may be this large (bytes); each photo
    #: in it is still held to ``max_upload_bytes``.
    max_archive_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    #: A zip of photos (POST /v1/train, ``facegate enroll``/``train``) may list this many
    #: entries in its central directory; more is refused whole with ARCHIVE_TOO_LARGE.
    max_archive_entries: int = Field(default=100_000, gt=0)
    #: ... and declare at most this many uncompressed bytes in all (zip bombs), else
    #: ARCHIVE_TOO_LARGE; no member is ever inflated past its declared size.
    max_archive_uncompressed_bytes: int = Field(default=4 * 1024 * 1024 * 1024, gt=0)
    #: Images with more pixels than this are refused with TOO_MANY_PIXELS, before decoding.
    max_pixels: int = Field(default=40_000_000, gt=0)
    #: Photos whose longer side is at least twice this are decoded at 1/k (k = longer side //
    #: this; a JPEG by its decoder's DCT scaling, 1/2 to 1/8, otherwise box-averaged strips), so
    #: the longer side stays at least this and a 40 MP photo never becomes a full-size RGB array;
    #: shorter photos decode exactly as at full resolution. 2048 is twice ``detection.max_side``:
    #: the smallest face HOG finds there (~80 px) is still >= 160 px here, more than the
    #: 150 px chip, so chips are never upsampled. Boxes and sizes are reported in the original
    #: photo's pixels. 0: always decode at full resolution.
    decode_max_side: int = Field(default=2048, ge=0)


class AlignmentSettings(BaseModel):
    """Enrolment happens once per photo and affords the most accurate descriptor; a probe
    (identify, verify, embed, liveness) is on every request's path and gets the fast one."""

    #: Landmarks an enrolled face's chip is aligned on: ``68`` (``models.landmarks68``: dlib's 68,
    #: or the whole face mesh, ``mesh_landmarks68.align_points``), ``5`` (the five points faces
    #: report), or ``both``: one chip each, descriptors combined (twice the descriptors; the
    #: most accurate, see docs/accuracy.md).
    landmarks: Literal["both", "68", "5"] = "both"
    probe_landmarks: Literal["both", "68", "5"] = "5"  #: the same for probes


class AugmentationSettings(BaseModel):
    """Views averaged into one descriptor per face, for enrolment and for probes apart."""

    #: Average each enrolled face's descriptor with its mirror image's (one more per face).
    flip: bool = True
    #: Also average this many slightly rotated/scaled/shifted copies of the chip (each with its
    #: mirror when ``flip``): per face, (1 + jitter) x (2 if flip) descriptors of ~5 ms each.
    jitter: int = Field(default=4, ge=0, le=100)
    #: The same for probes: one view by default (~5 ms of the request instead of ~100).
    probe_flip: bool = False
    probe_jitter: int = Field(default=0, ge=0, le=100)
    #: Verify photo vs photo (1:1, neither face enrolled): describe both photos with the
    #: enrolment views (``enrol``: ~0.1 s of CPU more per photo; LFW dev pairs 99.37% against
    #: 98.87% with one view each, docs/accuracy.md) or with the probe's (``probe``).
    photo_pair_views: Literal["enrol", "probe"] = "enrol"


class MatchingSettings(BaseModel):
    #: Euclidean distance at or below which two dlib descriptors are the same person
    #: (``facegate calibrate --apply`` stores a measured one in ``<data_dir>/calibration.json``).
    threshold: float = Field(default=0.6, gt=0.0, le=2.0)
    #: Candidates returned per face by identify.
    top_k: int = Field(default=3, ge=1, le=100)
    #: Identify's open-set rule: ``cohort`` holds the cohort-adjusted distance (the other
    #: enrolled people as the cohort, ``matching.CohortRule``) against the threshold,
    #: ``distance`` the plain best distance. Verification (1:1) always uses the plain distance.
    rule: Literal["cohort", "distance"] = "cohort"
    #: Nearest other identities the cohort rule averages.
    cohort_size: int = Field(default=10, ge=1, le=1000)
    #: Who ranks the identities for identify: ``active`` (the default) uses the classifier
    #: ``facegate models activate`` chose when one is active, and the nearest sample when none
    #: is; ``none`` always the nearest sample. A classifier's best identity still has its
    #: nearest-sample distance held against ``rule`` and ``threshold`` (open-set rejection).
    classifier: Literal["none", "active"] = "active"


class EnrollmentSettings(BaseModel):
    #: What enrolment does with a photo of several faces: refuse it, or take the largest face.
    multiple_faces: Literal["reject", "largest"] = "reject"


class RuntimeSettings(BaseModel):
    #: Descriptor model runtime: ``onnx`` (dlib's ResNet converted once to ONNX, same answers,
    #: ~20x faster) or ``dlib`` (dlib-bin itself).
    embedder: Literal["onnx", "dlib"] = "onnx"
    #: ONNX Runtime execution providers in order of preference, e.g. ``CUDAExecutionProvider``,
    #: ``OpenVINOExecutionProvider``; one that is missing is logged and skipped, CPU comes last.
    providers: Annotated[list[str], NoDecode, BeforeValidator(split_commas)] = Field(
        default_factory=lambda: ["CPUExecutionProvider"])
    #: Threads one descriptor call may use; empty means every core this process may use.
    intra_op_threads: int | None = Field(default=None, ge=1, le=256)
    #: Where the converted model is cached; empty means $FACEGATE_MODEL_CACHE or
    #: ~/.cache/facegate/models.
    model_cache: Path | None = None


class StorageSettings(BaseModel):
    #: ``sqlite:///path``, ``postgresql://user:password@host/db`` (several replicas share one),
    #: ``memory://``; empty means ``sqlite:///<data_dir>/gallery.sqlite3``.
    url: str = ""
    #: PostgreSQL only: past this many face samples (at start, or as the gallery grows) identify
    #: searches pgvector's HNSW index (approximate, nothing held in the replica's memory) instead
    #: of the exact in-memory index; identify's ``search`` field says which ran. 0: always HNSW.
    #: Up to 1M the exact index is the faster one here (~10 ms against ~26 ms, ~1.1 GB per
    #: replica; bench/results/search.md).
    hnsw_above: int = Field(default=1_000_000, ge=0)
    #: HNSW candidates per search (pgvector's ``hnsw.ef_search``): higher finds the exact
    #: answer more often and costs more. 400 found 99.1% of the exact top 10 among 1M synthetic
    #: descriptors (100% at 10k and 100k), 200 only 96.4% (bench/results/search.md).
    ef_search: int = Field(default=400, ge=10, le=1000)


class ServerSettings(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    #: When non-empty, every /v1 request must carry one of these in ``X-API-Key``.
    api_keys: Annotated[list[SecretStr], NoDecode, BeforeValidator(split_commas)] = Field(
        default_factory=list)
    #: A file of further API keys, one per line (blank lines and ``#`` comments ignored), e.g.
    #: a mounted secret; keys given on a command line show in ``ps``, a file's do not.
    api_keys_file: Path | None = None
    #: Model work running at once; more requests wait in line.
    workers: int = Field(default=2, ge=1, le=64)
    #: ``thread``: the model work runs on threads of the server process (the fastest here:
    #: ~91-94 identify/s against ~78-83 in processes, bench/http at 8 clients). ``process``: in
    #: ``workers`` worker processes: a crash in native code or a GIL-holding dlib call (the CNN
    #: fallback, ~0.1-0.5 s) stays in its process, at the cost of shipping each photo and its
    #: faces between processes.
    isolation: Literal["process", "thread"] = "thread"
    #: Requests waiting for a worker; one more is answered 503 OVERLOADED with Retry-After.
    max_queue: int = Field(default=16, ge=0, le=10_000)
    #: Bytes of request bodies (uploads, base64 JSON) being received or waiting at once, over
    #: all requests (at least one largest body is always let in); a body that would pass it is
    #: refused at once with 503 OVERLOADED and Retry-After. With ``max_queue`` this bounds the
    #: memory that bodies waiting for a worker can hold (bench/results/memory.md).
    max_body_bytes_in_flight: int = Field(default=64 * 1024 * 1024, gt=0)
    #: Seconds a request's body may take to arrive in full; later: 408 REQUEST_TIMEOUT, so a
    #: client that declares more bytes than it sends cannot hold a worker slot.
    body_timeout_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    #: Buffers of at least this many bytes get their own mmap, given back to the system when
    #: freed (glibc's M_MMAP_THRESHOLD, fixed; 0: glibc's default, which grows after each large
    #: photo so later ones stay in the heap and RSS stays high; bench/results/memory.md).
    malloc_mmap_threshold_bytes: int = Field(default=4 * 1024 * 1024, ge=0, le=32 * 1024 * 1024)
    #: A training job whose server wrote no heartbeat for this many seconds (it was killed or
    #: lost the database; a running job writes one every quarter of this) is reported failed,
    #: JOB_LOST, and the gallery's training slot is free again.
    training_lost_after_s: float = Field(default=60.0, ge=2.0, le=86_400.0)
    #: HTTPS with this certificate chain (PEM) and its private key (PEM); both or neither.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: HTTPS with a self-signed certificate made once in ``<data_dir>/tls/`` (``cert.pem``,
    #: ``key.pem``) and reused; its SHA-256 fingerprint is printed at every start.
    tls_self_signed: bool = False
    #: Host names and addresses the self-signed certificate is for; empty: localhost,
    #: 127.0.0.1, ::1 and ``host`` (when it is one address).
    tls_hosts: Annotated[list[str], NoDecode, BeforeValidator(split_commas)] = Field(
        default_factory=list)
    #: ``Strict-Transport-Security: max-age=...`` on every answer while serving TLS (0: none).
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)

    @property
    def tls(self) -> bool:
        return self.tls_self_signed or self.tls_cert is not None

    @model_validator(mode="after")
    def _tls_files_together(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key (--tls-cert and --tls-key), or "
                             "neither")
        if self.tls_self_signed and self.tls_cert is not None:
            raise ValueError("tls_self_signed makes its own certificate: leave tls_cert and "
                             "tls_key out")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ValueError(f"the TLS file {path} does not exist")
        return self

    @model_validator(mode="after")
    def _keys_from_file_and_not_trivial(self) -> ServerSettings:
        if self.api_keys_file is not None:
            try:
                lines = self.api_keys_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read the API key file {self.api_keys_file}: "
                                 f"{type(exc).__name__}") from exc
            self.api_keys = [*self.api_keys, *(
                SecretStr(line.strip()) for line in lines
                if line.strip() and not line.lstrip().startswith("#"))]
        for number, key in enumerate(self.api_keys, 1):
            if len(key.get_secret_value()) < 8:
                raise ValueError(f"API keys must be at least 8 characters long (key {number} "
                                 "is shorter)")
        return self


class Settings(BaseSettings):
    #: Errors never echo the refused input: it may hold an API key or a database password.
    model_config = SettingsConfigDict(
        env_prefix="FACEGATE_", env_nested_delimiter="__", extra="ignore",
        hide_input_in_errors=True,
    )

    data_dir: Path = Path("data")
    image: ImageSettings = Field(default_factory=ImageSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    alignment: AlignmentSettings = Field(default_factory=AlignmentSettings)
    augmentation: AugmentationSettings = Field(default_factory=AugmentationSettings)
    matching: MatchingSettings = Field(default_factory=MatchingSettings)
    enrollment: EnrollmentSettings = Field(default_factory=EnrollmentSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    rate: RateSettings = Field(default_factory=RateSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    compat: CompatSettings = Field(default_factory=CompatSettings)
    liveness: LivenessSettings = Field(default_factory=LivenessSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    log_level: str = "INFO"
    _calibrated: bool = PrivateAttr(default=False)

    @property
    def threshold_source(self) -> str:
        """Where ``matching.threshold`` came from: ``default``, ``environment`` (or a command
        option) or ``calibration`` (``<data_dir>/calibration.json``)."""
        if "threshold" in self.matching.model_fields_set:
            return "calibration" if self._calibrated else "environment"
        return "default"

    def use_calibrated_threshold(self, threshold: float) -> None:
        """A threshold just stored in ``calibration.json`` (``POST /v1/calibrate/{id}/apply``)
        is this process's from now on, reported with the source ``calibration``."""
        self.matching = self.matching.model_copy(update={"threshold": threshold})
        self.matching.model_fields_set.add("threshold")
        self._calibrated = True

    @model_validator(mode="after")
    def _calibrated_threshold(self) -> Settings:
        """A threshold stored by ``facegate calibrate --apply`` applies unless one is given."""
        path = self.data_dir / CALIBRATION_FILE
        if "threshold" in self.matching.model_fields_set or not path.is_file():
            return self
        try:
            threshold = float(json.loads(path.read_text(encoding="utf-8"))["threshold"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a readable calibration file: {exc}") from exc
        self.matching = self.matching.model_copy(update={"threshold": threshold})
        self.matching.model_fields_set.add("threshold")
        self._calibrated = True
        return self

    @property
    def storage_url(self) -> str:
        return self.storage.url or f"sqlite:///{(self.data_dir / 'gallery.sqlite3').resolve()}"

    @property
    def access_required(self) -> bool:
        """Whether every /v1 route needs a key or a session: beyond loopback, with any key
        configured, or with ``auth.required``; otherwise the server is open."""
        return (not is_loopback(self.server.host) or bool(self.server.api_keys)
                or self.auth.required)

    @model_validator(mode="after")
    def _refuse_open_server_without_key(self) -> Settings:
        if not self.server.api_keys and not is_loopback(self.server.host):
            raise ValueError(f"refusing to serve on {self.server.host!r} without an API key: "
                             "set FACEGATE_SERVER__API_KEYS (or --api-key), or listen on 127.0.0.1")
        return self


def is_loopback(host: str) -> bool:
    try:
        if host == "localhost":
            return True
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

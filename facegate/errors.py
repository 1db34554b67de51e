"""facegate's error tree, in one place.

Every error a user can cause carries a stable machine-readable ``code`` (never renamed once
released) and a human message. The HTTP layer maps classes to status codes in exactly one place
(``facegate.api.errors``); the CLI prints ``code: message``.

::

    FacegateError
    ├── InputError                      the request is wrong (HTTP 4xx)
    │   ├── ValidationError             VALIDATION_ERROR: malformed field, bad parameter
    │   │   └── ConsentRequiredError    CONSENT_REQUIRED: the server requires a consent record
    │   │                               to create or enrol a person (governance.require_consent)
    │   ├── ImageDecodeError            INVALID_IMAGE: empty, truncated or corrupt image bytes
    │   ├── UnsupportedImageTypeError   UNSUPPORTED_IMAGE_TYPE: not JPEG/PNG/WebP/BMP/GIF
    │   ├── UnsupportedMediaTypeError   UNSUPPORTED_MEDIA_TYPE: body neither JSON nor multipart
    │   ├── ImageTooLargeError          IMAGE_TOO_LARGE: upload over the byte limit
    │   ├── TooManyPixelsError          TOO_MANY_PIXELS: over the pixel limit (decompression bombs)
    │   ├── NoFaceError                 NO_FACE_FOUND: no face where one was needed
    │   ├── MultipleFacesError          MULTIPLE_FACES: several faces where exactly one was needed
    │   ├── DuplicateFaceError          DUPLICATE_FACE: image already enrolled for this identity
    │   ├── ConflictError               CONFLICT: e.g. an external id that is already taken
    │   │   └── ClusterChangedError     REVIEW_CLUSTER_CHANGED: a review action named a cluster
    │   │                               version that is no longer current (HTTP 409)
    │   ├── EmptyIdentityError          IDENTITY_HAS_NO_FACES: verify against an empty identity
    │   ├── VideoDecodeError            INVALID_VIDEO: a video OpenCV cannot decode
    │   ├── ArchiveError                INVALID_ARCHIVE: a zip of photos that is not a zip
    │   │   └── ArchiveMemberError      INVALID_ARCHIVE_MEMBER: one member cannot be used (bad
    │   │                               CRC, truncated, a size that lies, encrypted, a name
    │   │                               with ``..`` or an absolute path): that photo's refusal
    │   ├── ArchiveTooLargeError        ARCHIVE_TOO_LARGE: a zip over its byte, entry or
    │   │                               uncompressed-size limit
    │   ├── TooManyFramesError          TOO_MANY_FRAMES: more frames than a liveness check reads
    │   └── RequestTimeoutError         REQUEST_TIMEOUT: the body did not arrive in time (408)
    ├── NotFoundError                   (HTTP 404)
    │   ├── IdentityNotFoundError       IDENTITY_NOT_FOUND
    │   ├── FaceNotFoundError           FACE_NOT_FOUND
    │   ├── ClassifierNotFoundError     CLASSIFIER_NOT_FOUND: no trained classifier with that id
    │   ├── JobNotFoundError            JOB_NOT_FOUND: no training job with that id here
    │   ├── UserNotFoundError           USER_NOT_FOUND: no user with that id or name
    │   ├── KeyNotFoundError            KEY_NOT_FOUND: no API key with that id
    │   ├── RequestNotFoundError        REQUEST_NOT_FOUND: feedback on a request whose probes
    │   │                               are not kept (unknown id, or expired)
    │   ├── AnchorNotFoundError         NEGATIVE_ANCHOR_NOT_FOUND: no such negative anchor
    │   ├── ClusterNotFoundError        REVIEW_CLUSTER_NOT_FOUND: no review cluster with that id
    │   └── ReviewFaceNotFoundError     REVIEW_FACE_NOT_FOUND: no such face in the review queue
    ├── LivenessError                   a liveness session cannot be used
    │   ├── SessionNotFoundError        LIVENESS_SESSION_NOT_FOUND (HTTP 404)
    │   ├── SessionExpiredError         LIVENESS_SESSION_EXPIRED (HTTP 410)
    │   └── SessionUsedError            LIVENESS_SESSION_USED: frames already posted once (409)
    ├── AuthError                       UNAUTHORIZED: missing or wrong API key, session or
    │                                   password (HTTP 401)
    ├── ForbiddenError                  FORBIDDEN: signed in, but without the scope (HTTP 403)
    │   └── CsrfError                   CSRF_FAILED: a session request without its CSRF token
    ├── TooManyAttemptsError            TOO_MANY_ATTEMPTS: login failures locked out (HTTP 429)
    ├── RateLimitedError                RATE_LIMITED: this key's or address's request rate is
    │                                   used up for now; retry after ``retry_after_s`` (429)
    ├── OverloadedError                 OVERLOADED: every worker busy and the queue full (503)
    ├── StoreError                      STORE_ERROR: the gallery store failed (HTTP 500/503)
    └── ModelError                      MODEL_ERROR: model weights missing or broken (HTTP 500)

This module imports nothing from facegate.
"""

from __future__ import annotations

from typing import Any


class FacegateError(Exception):
    """Base of every error facegate raises on purpose."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class InputError(FacegateError):
    """The caller sent something facegate cannot use."""

    code = "INVALID_INPUT"


class ValidationError(InputError):
    code = "VALIDATION_ERROR"


class ConsentRequiredError(ValidationError):
    code = "CONSENT_REQUIRED"


class ImageDecodeError(InputError):
    code = "INVALID_IMAGE"


class UnsupportedImageTypeError(InputError):
    code = "UNSUPPORTED_IMAGE_TYPE"


class UnsupportedMediaTypeError(InputError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class ImageTooLargeError(InputError):
    code = "IMAGE_TOO_LARGE"


class TooManyPixelsError(InputError):
    code = "TOO_MANY_PIXELS"


class NoFaceError(InputError):
    code = "NO_FACE_FOUND"


class MultipleFacesError(InputError):
    code = "MULTIPLE_FACES"


class DuplicateFaceError(InputError):
    code = "DUPLICATE_FACE"


class ConflictError(InputError):
    code = "CONFLICT"


class ClusterChangedError(ConflictError):
    """The cluster changed (faces joined, left or expired, or another action) since the version
    the caller saw: nothing was done; reload it and decide again."""

    code = "REVIEW_CLUSTER_CHANGED"


class EmptyIdentityError(InputError):
    code = "IDENTITY_HAS_NO_FACES"


class VideoDecodeError(InputError):
    code = "INVALID_VIDEO"


class ArchiveError(InputError):
    code = "INVALID_ARCHIVE"


class ArchiveMemberError(ArchiveError):
    code = "INVALID_ARCHIVE_MEMBER"


class ArchiveTooLargeError(InputError):
    code = "ARCHIVE_TOO_LARGE"


class TooManyFramesError(InputError):
    code = "TOO_MANY_FRAMES"


class RequestTimeoutError(InputError):
    code = "REQUEST_TIMEOUT"


class LivenessError(FacegateError):
    """A liveness session that cannot take frames (a sequence that is not live is a result,
    not an error: it comes back with ``live: false`` and its reasons)."""

    code = "LIVENESS_ERROR"


class SessionNotFoundError(LivenessError):
    code = "LIVENESS_SESSION_NOT_FOUND"


class SessionExpiredError(LivenessError):
    code = "LIVENESS_SESSION_EXPIRED"


class SessionUsedError(LivenessError):
    code = "LIVENESS_SESSION_USED"


class NotFoundError(FacegateError):
    code = "NOT_FOUND"


class IdentityNotFoundError(NotFoundError):
    code = "IDENTITY_NOT_FOUND"


class FaceNotFoundError(NotFoundError):
    code = "FACE_NOT_FOUND"


class ClassifierNotFoundError(NotFoundError):
    code = "CLASSIFIER_NOT_FOUND"


class JobNotFoundError(NotFoundError):
    code = "JOB_NOT_FOUND"


class UserNotFoundError(NotFoundError):
    code = "USER_NOT_FOUND"


class KeyNotFoundError(NotFoundError):
    code = "KEY_NOT_FOUND"


class RequestNotFoundError(NotFoundError):
    code = "REQUEST_NOT_FOUND"


class AnchorNotFoundError(NotFoundError):
    code = "NEGATIVE_ANCHOR_NOT_FOUND"


class ClusterNotFoundError(NotFoundError):
    code = "REVIEW_CLUSTER_NOT_FOUND"


class ReviewFaceNotFoundError(NotFoundError):
    code = "REVIEW_FACE_NOT_FOUND"


class AuthError(FacegateError):
    code = "UNAUTHORIZED"


class RateLimitedError(FacegateError):
    code = "RATE_LIMITED"


class ForbiddenError(FacegateError):
    code = "FORBIDDEN"


class CsrfError(ForbiddenError):
    code = "CSRF_FAILED"


class TooManyAttemptsError(FacegateError):
    """``details["retry_after_s"]``: whole seconds until the next attempt is heard."""

    code = "TOO_MANY_ATTEMPTS"


class OverloadedError(FacegateError):
    code = "OVERLOADED"


class StoreError(FacegateError):
    code = "STORE_ERROR"


class ModelError(FacegateError):
    code = "MODEL_ERROR"

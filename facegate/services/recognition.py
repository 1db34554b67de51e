"""Detect, embed, identify (1:N, open set) and verify (1:1)."""

from __future__ import annotations

import time

from facegate.classifier import Classifier
from facegate.domain import (
    Candidate,
    Decision,
    Descriptor,
    Face,
    FaceIdentification,
    IdentifyResult,
    Timings,
    VerifyResult,
)
from facegate.errors import EmptyIdentityError, FacegateError, ValidationError
from facegate.matching import CohortRule, NegativeRule, decide, distance, is_match
from facegate.services.classifiers import ClassifierService
from facegate.services.faces import FaceReader, MultipleFaces, Photo
from facegate.services.gallery import IndexedGallery, parse_descriptor
from facegate.services.review import ReviewService


class RecognitionService:
    def __init__(
        self, gallery: IndexedGallery, reader: FaceReader, *, threshold: float, top_k: int,
        multiple_faces: MultipleFaces, cohort: CohortRule | None = None,
        photo_pairs_enrolled: bool = False, classifiers: ClassifierService | None = None,
        negatives: NegativeRule | None = None,
    ) -> None:
        self._gallery = gallery
        self._reader = reader
        self.threshold = threshold
        self.top_k = top_k
        self._multiple_faces = multiple_faces
        #: Identify's open-set rule: the cohort-adjusted distance, or None for the plain one.
        self.cohort = cohort
        #: Verify photo vs photo describes both photos with the enrolment pipeline's views.
        self._photo_pairs_enrolled = photo_pairs_enrolled
        #: Identify ranks identities with the active classifier (when one is); None: never.
        self.classifiers = classifiers
        #: How negative anchors (``wrong`` feedback) refuse an identity; None: never.
        self.negatives = negatives
        #: Where identify hands the faces it could not name (kept only when it is enabled).
        self.review: ReviewService | None = None

    @property
    def reader(self) -> FaceReader:
        """The face reader (the server's models), for work beside the requests (calibration)."""
        return self._reader

    def detect(self, data: bytes) -> tuple[Photo, list[Face], Timings]:
        """Every face with box, landmarks and quality (no descriptors: cheaper)."""
        timings = Timings()
        photo, faces = self._reader.located(data, timings)
        return photo, faces, timings

    def embed(self, data: bytes) -> tuple[Photo, list[Face], Timings]:
        """Every face with its descriptor."""
        timings = Timings()
        image, faces = self._reader.faces(data, timings)
        return image, faces, timings

    def identify(
        self, data: bytes, *, threshold: float | None = None, top_k: int | None = None,
        camera: str | None = None,
    ) -> IdentifyResult:
        """For every face in the photo: the top-k identities and the open-set decision; the
        unknown ones go to the review queue (tagged with ``camera``) when it is on."""
        threshold = self._threshold(threshold)
        top_k = top_k or self.top_k
        if not 1 <= top_k <= 100:
            raise ValidationError("top_k must be between 1 and 100")
        timings = Timings()
        image, faces = self._reader.faces(data, timings)
        started = time.perf_counter()
        self._gallery.refresh()
        active = self.classifiers.current() if self.classifiers is not None else None
        wanted = top_k if self.cohort is None else max(top_k, self.cohort.size + 1)
        results = []
        for face in faces:
            nearest = self._candidates(face.descriptor, k=wanted)
            ranked = nearest
            # A person enrolled after the classifier was fitted is unknown to it: when the
            # nearest sample is theirs, the nearest-sample ranking answers.
            if active is not None and nearest and nearest[0].identity_id in active[1].known:
                # (an empty ranking, e.g. every neighbour of a stale classifier deleted since,
                # falls back on the nearest samples: identify never answers no candidate)
                ranked = self._classified(face.descriptor, active[1], k=top_k) or nearest
            best = ranked[0] if ranked else None
            results.append(FaceIdentification(
                face=face, candidates=ranked[:top_k],
                decision=self._refused(face.descriptor, self._decide(best, nearest, threshold))))
        timings.add("match", (time.perf_counter() - started) * 1000.0)
        if self.review is not None:  # the review queue's one hook (docs/governance.md)
            self.review.offer(image.sha256, results, camera=camera)
        return IdentifyResult(faces=results, image_width=image.width,
                              image_height=image.height, timings=timings,
                              search=self._gallery.method,
                              classifier=None if active is None else active[0])

    def _decide(self, best: Candidate | None, nearest: list[Candidate],
                threshold: float) -> Decision:
        """The open-set decision on ``best``; under the cohort rule the probe's cohort is its
        nearest other identities and the identity's cohort its matched sample's."""
        if self.cohort is None or best is None:
            return decide([best] if best else [], threshold)
        identity_cohort: list[float] = []
        try:
            sample = self._gallery.store.get_face(best.identity_id, best.face_id)
        except FacegateError:  # deleted by another replica since the index loaded
            sample = None
        if sample is not None:
            hits = self._gallery.search(sample.descriptor, k=self.cohort.size + 1)
            identity_cohort = [h.distance for h in hits if h.identity_id != best.identity_id]
        probe_cohort = [c.distance for c in nearest if c.identity_id != best.identity_id]
        adjusted = self.cohort.adjusted(
            best.distance, probe_cohort=probe_cohort[:self.cohort.size],
            identity_cohort=identity_cohort)
        return decide([best], threshold, adjusted_distance=adjusted)

    def _refused(self, probe: Descriptor, decision: Decision) -> Decision:
        """The decision, or ``unknown`` when the named identity's negative anchors refuse the
        probe (``facegate/negatives.py``)."""
        named = decision.identity
        if named is None or self.negatives is None or self.negatives.mode == "off":
            return decision
        anchors = self._gallery.store.negative_anchors(named.identity_id)
        if not anchors:
            return decision
        score = named.distance if decision.adjusted_distance is None \
            else decision.adjusted_distance
        refused = self.negatives.refuses(
            own=named.distance, negatives=[distance(probe, a.descriptor) for a in anchors],
            score=score, anchor_scores=[a.score for a in anchors if a.score is not None])
        if not refused:
            return decision
        return Decision(identity=None, threshold=decision.threshold,
                        adjusted_distance=decision.adjusted_distance,
                        refused_identity=named.identity_id)

    def _candidates(self, probe: Descriptor, *, k: int) -> list[Candidate]:
        hits = self._gallery.search(probe, k=k)
        names = self._gallery.store.get_identities([hit.identity_id for hit in hits])
        return [
            Candidate(identity_id=hit.identity_id, name=names[hit.identity_id].name,
                      distance=hit.distance, face_id=hit.face_id)
            for hit in hits
            if hit.identity_id in names  # deleted by another replica since the index loaded
        ]

    def _classified(self, probe: Descriptor, classifier: Classifier, *,
                    k: int) -> list[Candidate]:
        """The classifier's top identities, best first, each with its nearest sample's
        distance (identities deleted since it was fitted are skipped)."""
        predictions = classifier.predict(probe, top=k + 5)[0]
        names = self._gallery.store.get_identities([p.label for p in predictions])
        ranked = []
        for prediction in predictions:
            hits = self._gallery.search(probe, k=1, identity_id=prediction.label)
            if hits and prediction.label in names:
                ranked.append(Candidate(
                    identity_id=prediction.label, name=names[prediction.label].name,
                    distance=hits[0].distance, face_id=hits[0].face_id, score=prediction.score))
        return ranked[:k]

    def verify_images(
        self, first: bytes, second: bytes, *, threshold: float | None = None,
        multiple_faces: MultipleFaces | None = None,
    ) -> VerifyResult:
        """Are the faces in two photos the same person? (Both described with the enrolment
        views when ``photo_pairs_enrolled``: neither has an enrolled reference.)"""
        threshold = self._threshold(threshold)
        timings = Timings()
        policy = multiple_faces or self._multiple_faces
        enrol = self._photo_pairs_enrolled
        _, face_a = self._reader.one_face(first, timings, multiple_faces=policy, enrol=enrol)
        _, face_b = self._reader.one_face(second, timings, multiple_faces=policy, enrol=enrol)
        started = time.perf_counter()
        value = distance(face_a.descriptor, face_b.descriptor)
        timings.add("match", (time.perf_counter() - started) * 1000.0)
        return VerifyResult(match=is_match(value, threshold), distance=value,
                            threshold=threshold, faces=[face_a, face_b], timings=timings)

    def verify_identity(
        self, data: bytes, identity_id: str, *, threshold: float | None = None,
        multiple_faces: MultipleFaces | None = None,
    ) -> VerifyResult:
        """Is the face in the photo this enrolled identity (its closest sample)?"""
        threshold = self._threshold(threshold)
        identity = self._gallery.store.get_identity(identity_id)
        if identity.face_count == 0:
            raise EmptyIdentityError(f"identity {identity_id!r} has no enrolled faces")
        timings = Timings()
        _, face = self._reader.one_face(
            data, timings, multiple_faces=multiple_faces or self._multiple_faces)
        started = time.perf_counter()
        self._gallery.refresh()
        hits = self._gallery.search(face.descriptor, k=1, identity_id=identity_id)
        if not hits:
            raise EmptyIdentityError(f"identity {identity_id!r} has no enrolled faces")
        timings.add("match", (time.perf_counter() - started) * 1000.0)
        return VerifyResult(match=is_match(hits[0].distance, threshold),
                            distance=hits[0].distance, threshold=threshold,
                            faces=[face], timings=timings, identity=identity)

    def verify_descriptor(
        self, data: bytes, descriptor: list[float], *, threshold: float | None = None,
        multiple_faces: MultipleFaces | None = None,
    ) -> VerifyResult:
        """Is the face in the photo the person a stored descriptor came from?"""
        threshold = self._threshold(threshold)
        reference = parse_descriptor(descriptor)
        timings = Timings()
        _, face = self._reader.one_face(
            data, timings, multiple_faces=multiple_faces or self._multiple_faces)
        started = time.perf_counter()
        value = distance(face.descriptor, reference)
        timings.add("match", (time.perf_counter() - started) * 1000.0)
        return VerifyResult(match=is_match(value, threshold), distance=value,
                            threshold=threshold, faces=[face], timings=timings)

    def _threshold(self, requested: float | None) -> float:
        if requested is None:
            return self.threshold
        if not 0.0 < requested <= 2.0:
            raise ValidationError("threshold must be in (0, 2]")
        return requested


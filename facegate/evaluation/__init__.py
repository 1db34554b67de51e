"""Accuracy measured with facegate's own pipeline: the pairs protocol (1:1), the open-set
identification protocol (1:N with strangers), threshold calibration, metrics and plots.

Imports ``bootstrap`` (in ``descriptors``, to build the pipeline in worker processes), so it sits
beside the entry points, above the services; nothing below it imports it.
"""

"""dlib's serialized ResNet: the reader on the real ``.dat``, the ONNX conversion and its cache, and
ONNX Runtime against dlib on the chips of a few real photos (no shared data needed)."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from facegate.bootstrap import build, shared_models
from facegate.config import Settings
from facegate.domain import DESCRIPTOR_SIZE, RGBImage
from facegate.errors import ModelError
from facegate.runtime import dlib_format
from facegate.runtime.dlib_format import AddPrev, Conv, Fc, InputRGB, Pool, Skip, Tag
from facegate.runtime.onnx_backend import CPU, OnnxEmbedder, choose_providers
from facegate.runtime.onnx_export import MODEL_STEM, ensure_onnx_model, load_onnx_model
from facegate.runtime.weights import FACE_RECOGNITION_RESNET, weights_path

PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "group6.jpg")


@pytest.fixture(scope="module")
def dat_bytes() -> bytes:
    return weights_path(FACE_RECOGNITION_RESNET).read_bytes()


@pytest.fixture(scope="module")
def network(dat_bytes: bytes) -> dlib_format.DlibNetwork:
    return dlib_format.parse_network(dat_bytes)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def embedder(model_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(cache_dir=model_cache)


@pytest.fixture(scope="module")
def chips(faces: Path) -> list[RGBImage]:
    facegate = build(Settings(storage={"url": "memory://"}))
    found = []
    for name in PHOTOS:
        _, detected, _ = facegate.recognition.detect((faces / name).read_bytes())
        found += [face.chip for face in detected]
    facegate.close()
    return found


def cosines(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    dot = (first.astype(np.float64) * second).sum(axis=1)
    return dot / np.linalg.norm(first, axis=1) / np.linalg.norm(second, axis=1)


def reader(data: bytes) -> dlib_format._Reader:
    return dlib_format._Reader(data)


# The encoding, as dlib's serialize.h and float_details.h write it.
@pytest.mark.parametrize(("data", "value"), [
    (b"\x01\x00", 0), (b"\x01\x02", 2), (b"\x81\x05", -5), (b"\x02\x2c\x01", 300),
    (b"\x84\xff\xff\xff\x7f", -(2**31 - 1)),
])
def test_integers(data: bytes, value: int) -> None:
    assert reader(data).int_() == value


def test_floats_are_mantissa_times_power_of_two() -> None:
    assert reader(b"\x03\x0a\xd7\xa3\x81\x1c").float_() == pytest.approx(0.04, rel=1e-7)
    assert reader(b"\x01\x03\x81\x01").float_() == 1.5
    assert reader(b"\x01\x00\x02\x00\x7d").float_() == math.inf  # exponent 32000


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x09" + bytes(9), b"\x31\x00", b"\x02\x01"])
def test_bad_integers_raise_model_error(data: bytes) -> None:
    with pytest.raises(ModelError):
        reader(data).int_()


def test_strings_and_booleans() -> None:
    cursor = reader(b"\x01\x05relu_10")
    assert (cursor.string(), cursor.bool_(), cursor.bool_()) == ("relu_", True, False)
    with pytest.raises(ModelError):
        reader(b"x").bool_()


# The real file.
def test_the_real_file_parses_to_the_face_resnet(network: dlib_format.DlibNetwork) -> None:
    kinds = Counter(type(layer).__name__ for layer in network.layers)
    assert kinds == {"InputRGB": 1, "Conv": 29, "Affine": 29, "Relu": 29, "Tag": 18, "Skip": 4,
                     "AddPrev": 14, "Pool": 6, "Fc": 1}
    first, conv, *_ = network.layers
    assert isinstance(first, InputRGB) and (first.rows, first.cols) == (150, 150)
    assert first.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    assert isinstance(conv, Conv) and conv.weights.shape == (32, 3, 7, 7)
    assert (conv.stride, conv.padding) == ((2, 2), (0, 0))  # dlib: no padding when stride != 1
    last = network.layers[-1]
    assert isinstance(last, Fc) and last.weights.shape == (256, DESCRIPTOR_SIZE)
    assert network.loss.distance_threshold == pytest.approx(0.6)
    pools = [layer for layer in network.layers if isinstance(layer, Pool)]
    assert [(pool.kind, pool.size) for pool in pools] == [("max", (3, 3))] + [("avg", (2, 2))] * 4 \
        + [("avg", (0, 0))]
    ids = [(type(layer).__name__, getattr(layer, "id", getattr(layer, "tag", None)))
           for layer in network.layers if isinstance(layer, Tag | Skip | AddPrev)]
    assert ids[:8] == [("Tag", 1), ("AddPrev", 1)] * 3 + [("Tag", 1), ("Tag", 2)]
    for layer in network.layers:
        for array in vars(layer).values():
            if isinstance(array, np.ndarray):
                assert array.dtype == np.float32 and np.isfinite(array).all()


@pytest.mark.parametrize("damage", ["truncated", "trailing byte", "unknown layer", "not dlib"])
def test_damaged_files_raise_model_error(dat_bytes: bytes, damage: str) -> None:
    data = {
        "truncated": dat_bytes[:-1000],
        "trailing byte": dat_bytes + b"\x00",
        "unknown layer": dat_bytes.replace(b"relu_", b"relu!", 1),
        "not dlib": b"\x89PNG\r\n\x1a\n" + dat_bytes[8:],
    }[damage]
    with pytest.raises(ModelError):
        dlib_format.parse_network(data)


# The first convolution's header after its weights: 32 filters, 7x7, stride 2x2, padding 0x0.
FIRST_CONV = b"\x01\x20\x01\x07\x01\x07\x01\x02\x01\x02\x01\x00\x01\x00"


@pytest.mark.parametrize(("header", "message"), [
    (b"\x01\x20\x01\x07\x01\x07\x01\x01\x01\x01\x01\x03\x01\x03", "expected"),  # stride 1
    (b"\x01\x20\x01\x07\x01\x07\x01\x02\x01\x02\x01\x03\x01\x03", "padding"),
])
def test_a_network_of_another_shape_is_refused(dat_bytes: bytes, header: bytes,
                                                message: str) -> None:
    assert dat_bytes.count(FIRST_CONV) == 1
    with pytest.raises(ModelError, match=message):
        dlib_format.parse_network(dat_bytes.replace(FIRST_CONV, header))


# Conversion and its cache.
def test_conversion_writes_the_model_and_checksums(model_cache: Path, dat_bytes: bytes) -> None:
    path = ensure_onnx_model(model_cache)
    assert path == model_cache / f"{MODEL_STEM}.onnx"
    record = json.loads((model_cache / f"{MODEL_STEM}.sha256").read_text())
    assert record["source"] == FACE_RECOGNITION_RESNET
    assert len(record["source_sha256"]) == len(record["onnx_sha256"]) == 64
    stamp = path.stat().st_mtime_ns
    assert load_onnx_model(model_cache) == path.read_bytes()
    assert path.stat().st_mtime_ns == stamp  # reused, not converted again
    assert not [p for p in model_cache.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("tamper", ["onnx", "sidecar source", "converter version"])
def test_a_stale_or_damaged_cache_is_rebuilt(tmp_path: Path, tamper: str) -> None:
    path = ensure_onnx_model(tmp_path)
    good = path.read_bytes()
    sidecar = tmp_path / f"{MODEL_STEM}.sha256"
    record = json.loads(sidecar.read_text())
    if tamper == "onnx":
        path.write_bytes(good[: len(good) // 2])
    elif tamper == "sidecar source":
        sidecar.write_text(json.dumps({**record, "source_sha256": "0" * 64}))
    else:
        sidecar.write_text(json.dumps({**record, "converter": -1}))
    assert load_onnx_model(tmp_path) == good
    assert path.read_bytes() == good and json.loads(sidecar.read_text()) == record


def test_concurrent_conversions_leave_one_whole_model(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: load_onnx_model(tmp_path), range(3)))
    assert results[0] == results[1] == results[2] == ensure_onnx_model(tmp_path).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{MODEL_STEM}.onnx",
                                                          f"{MODEL_STEM}.sha256"]


def test_an_unwritable_cache_converts_in_memory(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="facegate.runtime.onnx_export"):
        in_memory = load_onnx_model(blocked / "models")
    assert in_memory == ensure_onnx_model(tmp_path).read_bytes()  # the conversion is deterministic
    assert "using it from memory" in caplog.text
    with pytest.raises(ModelError):
        ensure_onnx_model(blocked / "models")


# ONNX Runtime against dlib.
def test_onnx_gives_dlibs_descriptors(embedder: OnnxEmbedder, chips: list[RGBImage]) -> None:
    assert len(chips) >= 10
    expected = shared_models().embed(chips)
    found = embedder.embed(chips)
    assert found.shape == (len(chips), DESCRIPTOR_SIZE) and found.dtype == np.float32
    assert cosines(expected, found).min() >= 0.9999
    assert np.abs(expected - found).max() < 1e-4
    one_by_one = np.concatenate([embedder.embed([chip]) for chip in chips])
    np.testing.assert_allclose(one_by_one, found, atol=1e-5)


def test_embedder_edges(embedder: OnnxEmbedder, chips: list[RGBImage]) -> None:
    assert embedder.embed([]).shape == (0, DESCRIPTOR_SIZE)
    assert embedder.model_name == shared_models().model_name
    with pytest.raises(ModelError):
        embedder.embed([chips[0][:100]])
    with pytest.raises(ModelError):
        embedder.embed([chips[0].astype(np.float32)])


@pytest.fixture
def fresh_warnings() -> Iterator[None]:
    from facegate.runtime import onnx_backend

    saved = set(onnx_backend._WARNED)
    onnx_backend._WARNED.clear()
    yield
    onnx_backend._WARNED.clear()
    onnx_backend._WARNED.update(saved)


@pytest.mark.usefixtures("fresh_warnings")
def test_unavailable_providers_fall_back_to_cpu_with_one_warning(
    model_cache: Path, chips: list[RGBImage], caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="facegate.runtime.onnx_backend"):
        assert choose_providers(["NoSuchExecutionProvider", CPU], [CPU]) == [CPU]
        assert choose_providers(["NoSuchExecutionProvider"], [CPU]) == [CPU]
        embedder = OnnxEmbedder(cache_dir=model_cache, providers=["NoSuchExecutionProvider"],
                                intra_op_threads=1)
        assert embedder.providers == [CPU]
        assert embedder.embed(chips[:2]).shape == (2, DESCRIPTOR_SIZE)
    warnings = [r for r in caplog.records if "NoSuchExecutionProvider" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING

"""Embeddings: the right shape and norm, stable, and able to tell photographs apart."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models import EngineError, FakeEngine, ImageEmbedder, load_bundle, thread_budget
from models.engine_ort import choose_providers


def test_int8_and_fp32_embed_real_photos(photos) -> None:
    fp32 = ImageEmbedder.open(precision="fp32")
    int8 = ImageEmbedder.open()  # auto: int8 when the bundle has it
    assert int8.precision == "int8"
    a, b = fp32.embed(photos), int8.embed(photos)
    assert a.shape == b.shape == (len(photos), 1280) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # int8 stays close to fp32 on every photo
    assert (a * b).sum(axis=1).min() > 0.95
    # a photo is nearer to a re-framed copy of itself than to any other photo
    reframed = [cv2.resize(p[10:-10, 12:-12], None, fx=0.8, fy=0.8) for p in photos]
    sims = int8.embed(reframed) @ b.T
    assert (sims.argmax(axis=1) == np.arange(len(photos))).all()


def test_embedding_is_deterministic_and_batch_independent(photos, embedder_fp32) -> None:
    one = embedder_fp32.embed(photos[0])
    again = embedder_fp32.embed([photos[0], photos[1]], batch_size=2)[0]
    assert np.allclose(one[0], again, atol=1e-5)


def test_embed_files_skips_bad_files_and_says_why(tmp_path: Path, photos, embedder_fp32) -> None:
    good = [tmp_path / f"{i}.jpg" for i in range(3)]
    for p, img in zip(good, photos, strict=False):
        cv2.imwrite(str(p), img)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    paths = [good[0], empty, good[1], tmp_path / "missing.png", good[2]]
    done: list[int] = []
    report = embedder_fp32.embed_files(paths, batch_size=2, progress=done.append)
    assert report.ok == [0, 2, 4]
    assert [i for i, _ in report.failed] == [1, 3]
    assert "empty file" in report.failed[0][1] and "no such file" in report.failed[1][1]
    assert report.vectors.shape == (3, 1280)
    assert sum(done) == len(paths)
    assert np.allclose(report.vectors[1], embedder_fp32.embed(good[1])[0], atol=1e-5)


def test_fake_engine_stands_in_for_a_model(photos) -> None:
    engine = FakeEngine(dim=1280)
    embedder = ImageEmbedder(load_bundle(), "fp32", engine=engine)
    vecs = embedder.embed(photos[:2])
    assert vecs.shape == (2, 1280) and engine.calls >= 2
    assert "fake" in embedder.model_id


def test_provider_choice_prefers_accelerators() -> None:
    chosen, reason = choose_providers(available=["CPUExecutionProvider"])
    assert chosen == ["CPUExecutionProvider"] and "only the default CPU" in reason
    chosen, reason = choose_providers(
        available=["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    )
    assert chosen == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(EngineError, match="not available"):
        choose_providers(["OpenVINOExecutionProvider"], available=["CPUExecutionProvider"])


def test_thread_budget_leaves_headroom() -> None:
    import os

    cpus = len(os.sched_getaffinity(0))
    assert thread_budget() == cpus
    assert thread_budget(headroom=1) == max(1, cpus - 1)
    assert thread_budget(headroom=99) == 1
    assert thread_budget(3) == 3
    with pytest.raises(ValueError):
        thread_budget(0)


def test_one_log_line_names_the_provider(caplog, photos) -> None:
    caplog.set_level("INFO", logger="models.engine_ort")
    ImageEmbedder.open(precision="int8", threads=1)
    lines = [r.getMessage() for r in caplog.records if "inference:" in r.getMessage()]
    assert len(lines) == 1 and "CPUExecutionProvider" in lines[0] and "1 thread" in lines[0]

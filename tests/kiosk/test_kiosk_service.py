"""``aislelens serve``: the REST service on the demo catalog, in process (FastAPI's TestClient)
and as the real command on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from catalog.cli_common import open_embedder
from kiosk.cli import cli
from kiosk.service import ServiceLimits, create_app
from models.images import decode_image


def catalog_photo(demo_assets, index: int = 0) -> tuple[str, bytes]:
    products = json.loads(demo_assets.products_file.read_text())
    products = products["products"] if isinstance(products, dict) else products
    item = products[index]
    image = item.get("image") or item["images"][0]
    path = Path(image) if Path(image).is_absolute() else demo_assets.products_file.parent / image
    return item["sku"], path.read_bytes()


@pytest.fixture
def client(demo_db):
    app = create_app(demo_db, limits=ServiceLimits(max_upload_bytes=2_000_000))
    with TestClient(app) as c:
        deadline = time.monotonic() + 60
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield c


def test_a_posted_photo_finds_its_product_with_the_kiosks_decision(client, demo_assets, demo_db):
    sku, data = catalog_photo(demo_assets)
    for kind in ("raw", "multipart"):
        if kind == "raw":
            r = client.post("/v1/search?k=3", content=data, headers={"content-type": "image/png"})
        else:
            r = client.post("/v1/search?k=3", files={"image": ("p.png", data, "image/png")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["matches"][0]["sku"] == sku and len(body["matches"]) == 3
        assert body["decision"] in ("found", "not_sure", "no_match")
        assert body["bundle"] and body["catalog_version"]
    product = client.get(f"/v1/products/{sku}").json()
    assert product["sku"] == sku and product["similar"] and "aisle" in product
    embedded = client.post("/v1/embed", content=data, headers={"content-type": "image/png"}).json()
    vector = np.array(embedded["vector"])
    assert embedded["dim"] == len(vector) and abs(np.linalg.norm(vector) - 1) < 1e-3
    # preprocessed as the catalog's photos and the kiosk's frames are (the fast path)
    embedder, _ = open_embedder(demo_db, None, None)
    image = decode_image(data, reduce_to=embedder.preprocess.spec.resize_size)
    fast, exact = (embedder.embed([image], fast=f)[0] for f in (True, False))
    np.testing.assert_allclose(vector, fast, atol=1e-5)
    assert not np.allclose(vector, exact, atol=1e-3)
    text = client.post("/v1/search", json={"text": product["name"].split()[0], "k": 5})
    assert text.status_code == 200 and sku in [m["sku"] for m in text.json()["matches"]]


def _png(width: int, height: int) -> bytes:
    return cv2.imencode(".png", np.full((height, width, 3), 128, np.uint8))[1].tobytes()


def _huge_png_header() -> bytes:
    """A PNG that claims 20000 × 20000 pixels (400 MP) in its header."""
    data = bytearray(_png(64, 64))
    data[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    return bytes(data)


BAD = [
    ("empty body", b"", "image/jpeg", 400, "empty"),
    ("not an image", b"hello, world " * 20, "image/jpeg", 422, "not a supported image"),
    ("truncated JPEG", None, "image/jpeg", 422, "upload"),
    ("wrong content type", b"abc", "text/plain", 415, "unsupported content type"),
    ("no content type", b"abc", "", 415, "unsupported content type"),
    ("over the upload limit", b"\xff" * 2_100_000, "image/jpeg", 413, "limit"),
    ("huge dimensions", "huge", "image/png", 413, "decode cap"),
    ("multipart without a file", "form", "multipart/form-data; boundary=xyz", 400, "no file"),
]


@pytest.mark.parametrize(("case", "body", "kind", "status", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_uploads_get_a_4xx_with_a_one_line_reason(
    client, demo_assets, case, body, kind, status, reason
):
    if body is None:
        noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
        jpeg = cv2.imencode(".jpg", noise)[1].tobytes()
        body = jpeg[: len(jpeg) // 3]
    elif body == "huge":
        body = _huge_png_header()
    elif body == "form":
        body = b'--xyz\r\nContent-Disposition: form-data; name="k"\r\n\r\n5\r\n--xyz--\r\n'
    headers = {"content-type": kind} if kind else {}
    r = client.post("/v1/search", content=body, headers=headers)
    assert r.status_code == status, (case, r.text)
    error = r.json()["error"]
    assert reason in error and "\n" not in error


def test_bad_queries_are_refused_too(client):
    assert (
        client.post(
            "/v1/search", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post("/v1/search", json={"k": 3}).status_code == 422
    assert (
        client.post(
            "/v1/search?k=0", content=_png(64, 64), headers={"content-type": "image/png"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/v1/search?k=x", content=_png(64, 64), headers={"content-type": "image/png"}
        ).status_code
        == 422
    )
    missing = client.get("/v1/products/no-such-sku")
    assert missing.status_code == 404 and "no-such-sku" in missing.json()["error"]


def test_health_readiness_and_metrics(client, demo_assets):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["bundle"]
    _, data = catalog_photo(demo_assets, 1)
    for _ in range(2):  # the second is a cache hit
        client.post("/v1/search", content=data, headers={"content-type": "image/png"})
    client.post("/v1/search", content=b"", headers={"content-type": "image/png"})
    text = client.get("/metrics").text
    assert 'aislelens_requests_total{method="POST",route="/v1/search",status="200"} 2.0' in text
    assert 'aislelens_requests_total{method="POST",route="/v1/search",status="400"} 1.0' in text
    assert 'aislelens_request_seconds_count{route="/v1/search"} 3.0' in text
    assert "aislelens_inference_seconds_count 1.0" in text
    assert 'aislelens_cache_total{result="hit"} 1.0' in text
    assert (
        f'aislelens_catalog_info{{bundle="{ready["bundle"]}",version="{ready["catalog_version"]}"}} 1.0'
        in text
    )


def test_a_full_queue_answers_503_with_retry_after(demo_db, demo_assets, monkeypatch):
    app = create_app(demo_db, limits=ServiceLimits(workers=1, queue=0))
    with TestClient(app) as c:
        while c.get("/readyz").status_code != 200:
            time.sleep(0.05)
        service = app.state.service
        assert service._slots.acquire(blocking=False)  # the one worker is busy
        try:
            _, data = catalog_photo(demo_assets)
            r = c.post("/v1/search", content=data, headers={"content-type": "image/png"})
        finally:
            service._slots.release()
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "busy" in r.json()["error"]
        assert (
            c.post("/v1/search", content=data, headers={"content-type": "image/png"}).status_code
            == 200
        )


def test_with_a_token_every_v1_route_wants_it(demo_db):
    app = create_app(demo_db, token="s3cret-token-0123456789")
    with TestClient(app) as c:
        assert c.get("/v1/products/x").status_code == 401
        assert c.get("/v1/products/x", headers={"authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/v1/products/x", headers={"authorization": "Bearer s3cret-token-0123456789"})
        assert ok.status_code in (404, 503)  # past the token check
        assert c.get("/healthz").status_code == 200


def test_a_missing_or_damaged_catalog_is_not_ready(tmp_path):
    db = tmp_path / "store.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with TestClient(create_app(db)) as c:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = c.get("/readyz")
            if r.json().get("reason", "").startswith("loading"):
                time.sleep(0.05)
                continue
            break
        assert r.status_code == 503 and r.json()["ready"] is False
        assert c.get("/healthz").status_code == 200
        assert c.get("/v1/products/x").status_code == 503


def test_serve_refuses_a_public_address_without_a_token(demo_db):
    result = CliRunner().invoke(cli, ["serve", "--db", str(demo_db), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "needs a token" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_real_command_serves_on_loopback(demo_db, demo_assets, tmp_path):
    port = _free_port()
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from kiosk.cli import main; main()", "serve", "--db", str(demo_db), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        sku, data = catalog_photo(demo_assets)
        req = urllib.request.Request(
            f"{base}/v1/search?k=1", data=data, headers={"Content-Type": "image/png"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert json.loads(r.read())["matches"][0]["sku"] == sku
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    # a graceful stop: uvicorn finishes the requests, then re-raises SIGTERM (systemd's "clean")
    assert "Application shutdown complete" in out and proc.returncode in (0, -15), out

"""Downloading known models, against a loopback HTTP server that mirrors the release layout."""

import hashlib
from dataclasses import replace

import pytest

from helpers.download_server import server  # noqa: F401 - the loopback mirror fixture
from helpers.models import save_official, tiny_compact
from ganpost.gan_models import DownloadError, catalogue, load_model


@pytest.fixture
def published(tmp_path, server, monkeypatch):
    """A tiny model published as 'realesr-animevideov3' with its true checksum."""
    data = save_official(tiny_compact(), tmp_path / "src.pth").read_bytes()
    known = catalogue.KNOWN_MODELS["realesr-animevideov3"]
    server.files[f"/{known.url_path}"] = data
    fake = replace(known, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    monkeypatch.setitem(catalogue.KNOWN_MODELS, known.name, fake)
    return fake


def test_download_checks_sha_and_loads(tmp_path, published):
    model = load_model("realesr-animevideov3", models_dir=tmp_path / "models")
    assert model.architecture == "SRVGGNetCompact"
    assert (tmp_path / "models" / "realesr-animevideov3.pth").is_file()


def test_checksum_mismatch_leaves_nothing(tmp_path, published, monkeypatch):
    monkeypatch.setitem(catalogue.KNOWN_MODELS, published.name, replace(published, sha256="0" * 64))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        load_model("realesr-animevideov3", models_dir=tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_interrupted_download_leaves_nothing(tmp_path, published, server):
    server.truncate = True
    with pytest.raises(DownloadError):
        load_model("realesr-animevideov3", models_dir=tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_unreachable_server_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(catalogue.BASE_URL_ENV, "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(DownloadError, match="put it at .*RealESRGAN_x2plus.pth"):
        load_model("RealESRGAN_x2plus", models_dir=tmp_path / "models")


def test_existing_file_is_used_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv(catalogue.BASE_URL_ENV, "http://127.0.0.1:9")
    (tmp_path / "models").mkdir()
    save_official(tiny_compact(), tmp_path / "models" / "realesr-animevideov3.pth")
    assert load_model("realesr-animevideov3", models_dir=tmp_path / "models").scale == 4


def test_catalogue_urls_point_at_official_releases(monkeypatch):
    monkeypatch.delenv(catalogue.BASE_URL_ENV, raising=False)
    url = catalogue.KNOWN_MODELS["RealESRGAN_x4plus"].url()
    assert url == "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth"
    unpinned = {m.name for m in catalogue.KNOWN_MODELS.values() if not m.sha256}
    # the publishers that give no digest (their files are checked by the strict weights-only load alone)
    assert all(n.startswith(("pix2pix_", "cyclegan_", "RestoreFormer", "GPEN-BFR-", "codeformer")) for n in unpinned)
    assert all(len(m.sha256) == 64 for m in catalogue.KNOWN_MODELS.values() if m.sha256)

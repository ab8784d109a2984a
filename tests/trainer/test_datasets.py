"""trainer.datasets: the packaged copies, checksums, `frtrain data list|fetch` against a local
HTTP server (the canonical URLs are never contacted in tests), and the offline message."""

from __future__ import annotations

import functools
import hashlib
import http.server
import lzma
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import CLI
from trainer import datasets
from trainer.datasets import REGISTRY, DatasetError, ensure, fetch, file_path, status

ROOT = Path(__file__).resolve().parents[2]


def test_every_registered_file_is_packaged_with_its_checksum_and_source() -> None:
    total = 0
    for ds in REGISTRY.values():
        assert ds.licence and ds.homepage.startswith("https://")
        for f in ds.files:
            packed = ds.packaged(f)
            raw = lzma.decompress(packed.read_bytes())
            assert len(raw) == f.size
            assert hashlib.sha256(raw).hexdigest() == f.sha256
            assert f.url.startswith("https://")
            total += packed.stat().st_size
    assert total < 3_000_000  # the package adds a few MB at most


def test_ensure_decompresses_into_the_data_dir_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRTRAIN_DATA_DIR", str(tmp_path))
    assert {r.state for r in status()} == {"packaged"}
    folder = ensure("synthetic")
    assert folder == tmp_path / "synthetic"
    assert np.load(folder / "X_synthetic.npy").shape == (7400, 2)
    states = {(r.dataset, r.state) for r in status()}
    assert ("synthetic", "verified") in states and ("adult", "packaged") in states
    # A corrupted copy is refused with the file named and the way out.
    (folder / "y_poi.npy").write_bytes(b"not the file" * 10)
    assert ("synthetic", "checksum mismatch") in {(r.dataset, r.state) for r in status()}
    with pytest.raises(DatasetError, match=r"y_poi\.npy does not match.*data fetch synthetic"):
        ensure("synthetic")
    with pytest.raises(DatasetError, match="unknown data set 'mnist'"):
        ensure("mnist")
    with pytest.raises(DatasetError, match="has no file"):
        file_path("adult", "adult.csv")


def test_default_data_dir_is_a_user_cache_not_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRTRAIN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent-cache")
    if sys.platform.startswith("linux"):
        assert datasets.data_dir() == Path("/nonexistent-cache/frtrain/data")
    assert "shared" not in datasets.data_dir().parts
    from app.core.config import Settings

    assert Settings(_env_file=None).data_dir == datasets.data_dir()  # type: ignore[call-arg]


def test_no_code_path_reads_shared_by_default() -> None:
    for folder in ("app", "trainer", "benchmarks"):
        for py in (ROOT / folder).rglob("*.py"):
            text = py.read_text()
            assert '"shared"' not in text and "'shared'" not in text, py
            assert "../shared" not in text.replace("(../shared/data, README there)", ""), py
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "shared" not in compose


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server holding <folder>/<file> for every registered file."""
    root = tmp_path / "mirror"
    for ds in REGISTRY.values():
        (root / ds.folder).mkdir(parents=True)
        for f in ds.files:
            (root / ds.folder / f.name).write_bytes(lzma.decompress(ds.packaged(f).read_bytes()))
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fetch_downloads_and_verifies(mirror: tuple[str, Path], tmp_path: Path) -> None:
    url, root = mirror
    dest = tmp_path / "cache"
    seen: list[tuple[str, int, int]] = []
    paths = fetch("compas", dest, mirror=url, progress=lambda *a: seen.append(a))
    assert paths == [dest / "compas" / "compas-scores-two-years.csv"]
    assert hashlib.sha256(paths[0].read_bytes()).hexdigest() == REGISTRY["compas"].files[0].sha256
    assert seen and seen[-1][1] == seen[-1][2] == 2546489
    # Already verified: nothing is downloaded again.
    seen.clear()
    fetch("compas", dest, mirror=url, progress=lambda *a: seen.append(a))
    assert seen == []
    # A tampered upstream file is refused and nothing is left behind.
    (root / "adult" / "adult.test").write_bytes(b"tampered\n")
    with pytest.raises(DatasetError, match=r"adult/adult\.test: SHA-256 .* does not match"):
        fetch("adult", dest, mirror=url)
    assert not (dest / "adult" / "adult.test").exists()
    assert [p.name for p in (dest / "adult").iterdir()] == ["adult.data"]


def test_fetch_offline_says_so(tmp_path: Path) -> None:
    port = _free_port()
    with pytest.raises(DatasetError, match=r"cannot reach http://127\.0\.0\.1.*are you offline"):
        fetch("synthetic", tmp_path, mirror=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(DatasetError, match="only http"):
        fetch("synthetic", tmp_path, mirror="file:///etc")


def test_data_cli_list_and_fetch(
    mirror: tuple[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _root = mirror
    monkeypatch.setenv("FRTRAIN_DATA_DIR", str(tmp_path / "d"))
    cli = CLI(capsys, monkeypatch)
    payload = cli.json("data", "list")
    assert payload["data_dir"] == str(tmp_path / "d")
    assert set(payload["datasets"]) == {"synthetic", "compas-crowd", "compas", "adult"}
    assert {f["state"] for d in payload["datasets"].values() for f in d["files"]} == {"packaged"}
    got = cli.ok("data", "fetch", "compas-crowd", "--mirror", url)
    assert "2 file(s) verified (SHA-256)" in got
    table = cli.ok("data", "list")
    assert "verified" in table and "CC BY 4.0" in table
    port = _free_port()
    off = cli.bad("data", "fetch", "adult", "--mirror", f"http://127.0.0.1:{port}", code=1)
    assert "are you offline" in off
    assert "NAME: unknown data set" in cli.bad("data", "fetch", "imagenet")
    assert "--timeout" in cli.bad("data", "fetch", "adult", "--timeout", "0")
    printed = Path(cli.ok("data", "path", "adult", "adult.test").strip())
    assert printed == tmp_path / "d" / "adult" / "adult.test" and printed.is_file()
    assert "has no file" in cli.bad("data", "path", "adult", "adult.csv", code=1)


def test_read_only_data_dir_with_a_missing_file_names_the_fix(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    shutil.copytree(ensure("synthetic"), ro / "synthetic")
    ro.chmod(0o555)
    try:
        try:
            ensure("compas", ro)
        except DatasetError as exc:
            assert "FRTRAIN_DATA_DIR" in str(exc)
        else:  # root ignores permission bits; the copy then simply succeeds
            assert (ro / "compas" / "compas-scores-two-years.csv").is_file()
    finally:
        ro.chmod(0o755)

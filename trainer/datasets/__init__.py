"""The data sets frtrain knows: where each comes from, its licence, its SHA-256, and where to
find a verified copy on this machine.

Every file the demo and the test suite read ships inside the package, xz-compressed, under
``trainer/datasets/files/<folder>/<file>.xz`` (under 1 MB in all). On first use a packaged
file is decompressed into the *data directory* and checked against its SHA-256; later uses
read the plain file there. ``fetch`` downloads a data set from its canonical public URL into
the same directory instead (``frtrain data fetch NAME``), verifying each file.

The data directory is ``$FRTRAIN_DATA_DIR`` when set, else a per-user cache
(``$XDG_CACHE_HOME/frtrain/data``, default ``~/.cache/frtrain/data``). Its layout is the one
the loaders expect: ``synthetic/``, ``crowd/``, ``compas/``, ``adult/``. A file present there
whose checksum does not match is an error (a loader given an explicit path reads whatever it
is given, unchecked).

The checksums are those of the copies kept with the project (../shared/data, README there),
taken byte for byte as published; ``fetch`` refuses an upstream file that differs.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

__all__ = [
    "REGISTRY",
    "DataFile",
    "Dataset",
    "DatasetError",
    "data_dir",
    "data_root",
    "ensure",
    "fetch",
    "file_path",
    "status",
]

FILES = Path(__file__).resolve().parent / "files"
_FRTRAIN_REPO = "https://raw.githubusercontent.com/yuji-roh/fr-train/HEAD"
_UCI_ADULT = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult"


class DatasetError(RuntimeError):
    """A data set is missing, cannot be written, or does not match its checksum."""


@dataclass(frozen=True)
class DataFile:
    name: str
    sha256: str
    size: int
    url: str


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: str
    title: str
    licence: str
    homepage: str
    files: tuple[DataFile, ...] = field(default_factory=tuple)

    def packaged(self, f: DataFile) -> Path:
        return FILES / self.folder / f"{f.name}.xz"


REGISTRY: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="synthetic",
            folder="synthetic",
            title="FR-Train authors' synthetic set (paper Section 4.1): 7400 rows, 2 features, "
            "sensitive z, labels, 2000 poisoned labels",
            licence="released by the authors with the paper's code for reproduction "
            "(no licence file in their repository); cite Roh et al., ICML 2020",
            homepage="https://github.com/yuji-roh/fr-train",
            files=(
                DataFile(
                    "X_synthetic.npy",
                    "4b9373a94dc98b4c9ebe7ddbd3eba5969f472619dc8ed4256b8c1aa412a88caa",
                    59328,
                    f"{_FRTRAIN_REPO}/X_synthetic.npy",
                ),
                DataFile(
                    "y_synthetic.npy",
                    "723e5ca434638a6c4cfbafc36f729c52d9bb2cf2afe66d5ea3a96ac9d8e15ffe",
                    29728,
                    f"{_FRTRAIN_REPO}/y_synthetic.npy",
                ),
                DataFile(
                    "s1_synthetic.npy",
                    "fe13a2522ae477c9a52b12d3a1dfb7054418b92e12abdbb87c2fc1310f4f7598",
                    29728,
                    f"{_FRTRAIN_REPO}/s1_synthetic.npy",
                ),
                DataFile(
                    "y_poi.npy",
                    "422be1f47bccf1dbafb6e4bb5dfbfe9748694725cface95083d05f8f9f5d47e6",
                    8128,
                    f"{_FRTRAIN_REPO}/y_poi.npy",
                ),
            ),
        ),
        Dataset(
            name="compas-crowd",
            folder="crowd",
            title="released Amazon Mechanical Turk answers: 440 COMPAS examples x 11 workers, "
            "1-4 scale, anonymised worker ids",
            licence="released by the FR-Train authors (no licence file in their repository); "
            "cite Roh et al., ICML 2020",
            homepage="https://github.com/yuji-roh/fr-train/tree/HEAD/crowdsourcing-data",
            files=(
                DataFile(
                    "COMPAS_crowdsourcing_data.csv",
                    "da28eed62a1188a074f8f52e8e1fe607648ca11b5d3395a8f359cef02166bd40",
                    89454,
                    f"{_FRTRAIN_REPO}/crowdsourcing-data/COMPAS_crowdsourcing_data.csv",
                ),
                DataFile(
                    "COMPAS_README.txt",
                    "54b1c8d602ffceece70b8135aec927501e1bbbf66b1926240b0b0cc7d0d485ad",
                    2105,
                    f"{_FRTRAIN_REPO}/crowdsourcing-data/COMPAS_README",
                ),
            ),
        ),
        Dataset(
            name="compas",
            folder="compas",
            title="ProPublica COMPAS two-year recidivism file (raw, 53 columns, 7214 rows)",
            licence="ProPublica compas-analysis repository, published for reuse with "
            "attribution to ProPublica (no licence file); cite Angwin et al., 2016",
            homepage="https://github.com/propublica/compas-analysis",
            files=(
                DataFile(
                    "compas-scores-two-years.csv",
                    "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d",
                    2546489,
                    "https://raw.githubusercontent.com/propublica/compas-analysis/HEAD/"
                    "compas-scores-two-years.csv",
                ),
            ),
        ),
        Dataset(
            name="adult",
            folder="adult",
            title="UCI Adult (Census Income): 32561 + 16281 rows, raw, '?' for missing",
            licence="UCI Machine Learning Repository, CC BY 4.0; cite Becker & Kohavi, 1996",
            homepage="https://archive.ics.uci.edu/dataset/2/adult",
            files=(
                DataFile(
                    "adult.data",
                    "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
                    3974305,
                    f"{_UCI_ADULT}/adult.data",
                ),
                DataFile(
                    "adult.test",
                    "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
                    2003153,
                    f"{_UCI_ADULT}/adult.test",
                ),
                DataFile(
                    "adult.names",
                    "c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a",
                    5229,
                    f"{_UCI_ADULT}/adult.names",
                ),
            ),
        ),
    )
}


def data_dir() -> Path:
    """``$FRTRAIN_DATA_DIR``, else the per-user cache (nothing is created here)."""
    env = os.environ.get("FRTRAIN_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "frtrain" / "data"


def get(name: str) -> Dataset:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise DatasetError(f"unknown data set {name!r}; known: {known}") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@cache
def _verified(path: str, mtime_ns: int, size: int, sha256: str) -> bool:
    # Keyed on mtime and size too, so a file replaced during the process is checked again.
    return _sha256(Path(path)) == sha256


def _check(path: Path, f: DataFile) -> bool:
    st = path.stat()
    return st.st_size == f.size and _verified(str(path), st.st_mtime_ns, st.st_size, f.sha256)


def _write_atomic(dest: Path, chunks: Iterable[bytes], f: DataFile) -> None:
    """Write to a temporary file beside ``dest``, check the SHA-256, then rename into place
    (parallel test processes may materialise the same file at once)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{f.name}.", dir=dest.parent)
    except OSError as exc:
        raise DatasetError(
            f"cannot write {dest.parent} ({exc.strerror}); set FRTRAIN_DATA_DIR to a "
            "writable folder"
        ) from None
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != f.sha256:
            raise DatasetError(f"SHA-256 {h.hexdigest()} does not match the expected {f.sha256}")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _decompressed(src: Path) -> Iterable[bytes]:
    with lzma.open(src, "rb") as fh:
        yield from iter(lambda: fh.read(1 << 20), b"")


def ensure(name: str, root: Path | None = None) -> Path:
    """The folder holding every file of data set ``name``, verified; packaged files are
    decompressed into ``root`` (default :func:`data_dir`) on first use."""
    ds = get(name)
    root = root if root is not None else data_dir()
    folder = root / ds.folder
    for f in ds.files:
        dest = folder / f.name
        if dest.is_file():
            if not _check(dest, f):
                raise DatasetError(
                    f"{dest} does not match its SHA-256 ({f.sha256}); delete it and run "
                    f"`frtrain data fetch {name}`, or pass the file's path explicitly"
                )
            continue
        src = ds.packaged(f)
        if not src.is_file():
            raise DatasetError(
                f"{dest} is missing and not shipped with the package; run "
                f"`frtrain data fetch {name}` (downloads {f.url})"
            )
        try:
            _write_atomic(dest, _decompressed(src), f)
        except DatasetError as exc:
            raise DatasetError(f"{name}/{f.name} (packaged copy {src}): {exc}") from None
    return folder


def file_path(name: str, file: str, root: Path | None = None) -> Path:
    """The verified path of one file of data set ``name``."""
    ds = get(name)
    if file not in {f.name for f in ds.files}:
        raise DatasetError(f"data set {name!r} has no file {file!r}")
    return ensure(name, root) / file


def data_root(root: Path | None = None) -> Path:
    """The data directory with every registered data set present and verified (the layout the
    loaders' default paths expect)."""
    root = root if root is not None else data_dir()
    for name in REGISTRY:
        ensure(name, root)
    return root


def _download(
    url: str, timeout: float, progress: Callable[[int, int], None] | None
) -> Iterable[bytes]:
    req = urllib.request.Request(url, headers={"User-Agent": "frtrain-data-fetch"})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DatasetError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DatasetError(
            f"cannot reach {url} ({reason}); are you offline? The packaged copies work "
            "without a network (`frtrain data list`)"
        ) from None
    with resp:
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        while chunk := resp.read(1 << 16):
            done += len(chunk)
            if progress is not None:
                progress(done, total)
            yield chunk


def fetch(
    name: str,
    root: Path | None = None,
    *,
    mirror: str | None = None,
    force: bool = False,
    timeout: float = 30.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Path]:
    """Download data set ``name`` from its canonical URLs (or ``mirror``/<folder>/<file>) into
    ``root`` (default :func:`data_dir`), verifying each file's SHA-256. Files already present
    and verified are kept unless ``force``."""
    ds = get(name)
    root = root if root is not None else data_dir()
    out = []
    for f in ds.files:
        dest = root / ds.folder / f.name
        if not force and dest.is_file() and _check(dest, f):
            out.append(dest)
            continue
        url = f"{mirror.rstrip('/')}/{ds.folder}/{f.name}" if mirror else f.url
        if not url.startswith(("http://", "https://")):
            raise DatasetError(f"{url}: only http:// and https:// URLs can be fetched")

        def tick(done: int, total: int, _f: DataFile = f) -> None:
            if progress is not None:
                progress(_f.name, done, total or _f.size)

        try:
            _write_atomic(dest, _download(url, timeout, tick), f)
        except DatasetError as exc:
            raise DatasetError(f"{name}/{f.name}: {exc}") from None
        out.append(dest)
    return out


@dataclass(frozen=True)
class FileStatus:
    dataset: str
    file: str
    path: Path
    state: str  # "verified", "packaged" (not yet decompressed), "missing", "checksum mismatch"
    size: int
    url: str


def status(root: Path | None = None) -> list[FileStatus]:
    """What is present in the data directory and verified, per file (nothing is written)."""
    root = root if root is not None else data_dir()
    rows = []
    for ds in REGISTRY.values():
        for f in ds.files:
            dest = root / ds.folder / f.name
            if dest.is_file():
                state = "verified" if _check(dest, f) else "checksum mismatch"
            elif ds.packaged(f).is_file():
                state = "packaged"
            else:
                state = "missing"
            rows.append(FileStatus(ds.name, f.name, dest, state, f.size, f.url))
    return rows

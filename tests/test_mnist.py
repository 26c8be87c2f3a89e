"""MNIST loader: the real test split, search order and cache, damaged files, IDX headers, the
download path (through ``file://`` mirrors, no network) and the stratified 8,000 / 2,000 split.

The real files come from the ``mnist_dir`` fixture (``tests/conftest.py``). Expected numbers are
from ``shared/data/mnist/README.md`` (sizes, label counts) or worked out by hand below.
"""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

from qnnlab.data import mnist
from qnnlab.data.mnist import (
    FILES,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    MNIST,
    MNISTError,
    load_mnist,
    mnist_split,
    parse_idx,
)
from qnnlab.engines.validation import InputError

IMAGES, LABELS = (spec.name for spec in FILES["test"])
#: Label counts of digits 0..9 in the MNIST test split (README).
COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch, tmp_path):
    """No test reads ``$QNNLAB_MNIST`` or writes the user's cache unless it sets them itself."""
    monkeypatch.delenv("QNNLAB_MNIST", raising=False)
    monkeypatch.setenv("QNNLAB_CACHE", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def raw_bytes(mnist_dir) -> dict[str, bytes]:
    """Decompressed content of both real files, by name."""
    out = {}
    for name in (IMAGES, LABELS):
        gz = mnist_dir / f"{name}.gz"
        out[name] = (
            gzip.decompress(gz.read_bytes()) if gz.is_file() else (mnist_dir / name).read_bytes()
        )
    return out


def write_folder(folder, files: dict[str, bytes]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


# ---------------------------------------------------------------------------- the real split
def test_real_test_split(mnist_dir, tmp_path):
    data = load_mnist(root=mnist_dir, cache_dir=tmp_path)
    assert isinstance(data, MNIST)
    assert data.split == "test" and data.source == mnist_dir
    assert data.images.shape == (10000, 28, 28) and data.images.dtype == np.uint8
    assert data.labels.shape == (10000,) and data.labels.dtype == np.uint8
    assert np.bincount(data.labels, minlength=10).tolist() == COUNTS
    # Pixels span the full byte range: background 0, ink saturates at 255.
    assert data.images.min() == 0 and data.images.max() == 255
    # Every image has some ink.
    assert (data.images.reshape(10000, -1).max(axis=1) > 0).all()
    # The first test labels are the well-known 7 2 1 0 4 1 4 9 5 9.
    assert data.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert not data.images.flags.writeable and not data.labels.flags.writeable
    assert "n=10000" in repr(data)


def test_loading_is_fast(mnist_dir, tmp_path):
    load_mnist(root=mnist_dir, cache_dir=tmp_path)  # first call also writes the cache copy
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        load_mnist(root=mnist_dir, cache_dir=tmp_path)
        best = min(best, time.perf_counter() - start)
    # gunzip (~1.6 MB -> 7.8 MB), SHA-256 and a zero-copy view: ~0.07 s measured on a shared core.
    assert best < 1.0


# ---------------------------------------------------------------------------- where files come from
def test_copied_into_cache_then_found_without_root(mnist_dir, tmp_path):
    first = load_mnist(root=mnist_dir, cache_dir=tmp_path)
    cache = tmp_path / "mnist"
    for name in (IMAGES, LABELS):
        assert (cache / f"{name}.gz").read_bytes() == (mnist_dir / f"{name}.gz").read_bytes()
    assert not list(cache.glob(".*.tmp"))  # atomic writes leave no temporary file
    again = load_mnist(cache_dir=tmp_path)
    assert again.source == cache
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.labels, first.labels)


def test_default_cache_follows_qnnlab_cache(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("QNNLAB_CACHE", str(tmp_path / "c"))
    load_mnist(root=mnist_dir)
    assert load_mnist().source == tmp_path / "c" / "mnist"


def test_env_folder_and_root_first(mnist_dir, raw_bytes, tmp_path, monkeypatch):
    monkeypatch.setenv("QNNLAB_MNIST", str(mnist_dir))
    assert load_mnist(cache_dir=tmp_path).source == mnist_dir
    root = write_folder(tmp_path / "raw", raw_bytes)
    assert load_mnist(root=root, cache_dir=tmp_path).source == root


def test_env_folder_checked_only_when_reached(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("QNNLAB_MNIST", str(tmp_path / "gone"))
    assert load_mnist(root=mnist_dir, cache_dir=tmp_path).source == mnist_dir


def test_uncompressed_files(raw_bytes, tmp_path):
    root = write_folder(tmp_path / "raw", raw_bytes)
    data = load_mnist(root=root, cache_dir=tmp_path / "cache")
    assert data.source == root
    assert np.bincount(data.labels, minlength=10).tolist() == COUNTS
    # The cache keeps a gzip copy whose content is the same file.
    gz = tmp_path / "cache" / "mnist" / f"{IMAGES}.gz"
    assert gzip.decompress(gz.read_bytes()) == raw_bytes[IMAGES]
    assert load_mnist(cache_dir=tmp_path / "cache").source == gz.parent


def test_folder_with_one_file_is_skipped(mnist_dir, raw_bytes, tmp_path):
    root = write_folder(tmp_path / "half", {IMAGES: raw_bytes[IMAGES]})
    with pytest.raises(MNISTError, match=f"half \\(root=: missing {LABELS}"):
        load_mnist(root=root, cache_dir=tmp_path)
    load_mnist(root=mnist_dir, cache_dir=tmp_path)  # fills the cache
    assert load_mnist(root=root, cache_dir=tmp_path).source == tmp_path / "mnist"


def test_unwritable_cache_warns_and_still_loads(mnist_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="not copied into the cache"):
        data = load_mnist(root=mnist_dir, cache_dir=blocker)
    assert data.labels.shape == (10000,)


# ---------------------------------------------------------------------------- errors
def test_missing_folder(tmp_path, monkeypatch):
    with pytest.raises(MNISTError, match="nope \\(root=\\) does not exist"):
        load_mnist(root=tmp_path / "nope", cache_dir=tmp_path)
    monkeypatch.setenv("QNNLAB_MNIST", str(tmp_path / "gone"))
    with pytest.raises(MNISTError, match="gone \\(\\$QNNLAB_MNIST\\) does not exist"):
        load_mnist(cache_dir=tmp_path)


def test_missing_files_say_where_and_how(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MNISTError) as info:
        load_mnist(root=tmp_path / "empty", cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert isinstance(info.value, InputError) and "\n" not in message
    for part in (
        f"{IMAGES}[.gz]",
        f"{LABELS}[.gz]",
        str(tmp_path / "empty"),
        str(tmp_path / "cache" / "mnist") + " (cache: folder does not exist)",
        "root=",
        "QNNLAB_MNIST",
        "download=True",
    ):
        assert part in message


@pytest.mark.parametrize("compressed", [False, True])
def test_damaged_copy_names_sha256(raw_bytes, tmp_path, compressed):
    bad = flipped(raw_bytes[IMAGES], 16 + 28 * 14 + 14)  # a pixel in the middle of image 0
    if compressed:  # a valid gzip stream around wrong content
        files = {f"{IMAGES}.gz": gzip.compress(bad, compresslevel=1), LABELS: raw_bytes[LABELS]}
    else:
        files = {IMAGES: bad, LABELS: raw_bytes[LABELS]}
    root = write_folder(tmp_path / "bad", files)
    with pytest.raises(MNISTError) as info:
        load_mnist(root=root, cache_dir=tmp_path)
    message = str(info.value)
    assert "sha256" in message and FILES["test"][0].sha256 in message
    assert str(root / next(iter(files))) in message
    assert "delete it and re-download" in message and "re-copy" in message
    assert not (tmp_path / "mnist" / f"{IMAGES}.gz").exists()  # nothing unverified is cached


def test_damaged_gzip_stream(mnist_dir, raw_bytes, tmp_path):
    gz = (mnist_dir / f"{IMAGES}.gz").read_bytes()
    root = write_folder(
        tmp_path / "bad", {f"{IMAGES}.gz": flipped(gz, len(gz) // 2), LABELS: raw_bytes[LABELS]}
    )
    with pytest.raises(MNISTError, match=r"is damaged.*delete it and re-download"):
        load_mnist(root=root, cache_dir=tmp_path)


def test_truncated_file(raw_bytes, tmp_path):
    root = write_folder(
        tmp_path / "short", {IMAGES: raw_bytes[IMAGES][:-784], LABELS: raw_bytes[LABELS]}
    )
    with pytest.raises(MNISTError, match=r"sha256.*7839232 bytes, expected 7840016"):
        load_mnist(root=root, cache_dir=tmp_path)


def test_parse_idx_headers(raw_bytes):
    # A hand-made 2 x 3 x 4 image file: header 0x00000803, dims 2, 3, 4, then 24 bytes.
    body = bytes(range(24))
    data = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (2, 3, 4)) + body
    arr = parse_idx(data, IMAGES_MAGIC)
    assert arr.shape == (2, 3, 4) and arr[1, 2, 3] == 23 and arr.dtype == np.uint8
    labels = parse_idx(raw_bytes[LABELS], LABELS_MAGIC)
    assert labels.shape == (10000,)
    with pytest.raises(MNISTError, match="magic number 0x00000801, expected 0x00000803"):
        parse_idx(raw_bytes[LABELS], IMAGES_MAGIC, "labels-as-images")
    with pytest.raises(MNISTError, match="magic number nothing"):
        parse_idx(b"\x00\x00", IMAGES_MAGIC)
    with pytest.raises(MNISTError, match="ends inside its IDX header"):
        parse_idx(data[:10], IMAGES_MAGIC)
    with pytest.raises(
        MNISTError, match="has 39 bytes but its IDX header \\(dims \\(2, 3, 4\\)\\) says 40"
    ):
        parse_idx(data[:-1], IMAGES_MAGIC)
    with pytest.raises(MNISTError, match="says 40"):
        parse_idx(data + b"\x00", IMAGES_MAGIC)


@pytest.mark.parametrize(
    ("split", "pattern"),
    [
        ("train", "only the MNIST test split is supported.*authoritative SHA-256.*mnist_split"),
        ("val", "unknown MNIST split 'val'; use split='test'"),
        (3, "unknown MNIST split 3"),
    ],
)
def test_split_names(split, pattern, tmp_path):
    with pytest.raises(MNISTError, match=pattern):
        load_mnist(split, cache_dir=tmp_path)


# ---------------------------------------------------------------------------- download
def test_download_from_file_mirror(mnist_dir, tmp_path, monkeypatch):
    (tmp_path / "empty-mirror").mkdir()
    mirrors = ((tmp_path / "empty-mirror").as_uri() + "/", mnist_dir.as_uri())
    monkeypatch.setattr(mnist, "MIRRORS", mirrors)
    with pytest.raises(MNISTError, match="download=True"):
        load_mnist(cache_dir=tmp_path)  # no download unless asked
    data = load_mnist(cache_dir=tmp_path, download=True)  # first mirror fails, second serves
    assert data.source == tmp_path / "mnist"
    assert np.bincount(data.labels, minlength=10).tolist() == COUNTS
    for name in (IMAGES, LABELS):
        assert (tmp_path / "mnist" / f"{name}.gz").read_bytes() == (
            mnist_dir / f"{name}.gz"
        ).read_bytes()
    monkeypatch.setattr(mnist, "MIRRORS", ())
    assert load_mnist(cache_dir=tmp_path, download=True).source == tmp_path / "mnist"


def test_download_fetches_only_missing_files(mnist_dir, raw_bytes, tmp_path, monkeypatch):
    write_folder(tmp_path / "mnist", {LABELS: raw_bytes[LABELS]})
    mirror = write_folder(
        tmp_path / "mirror", {f"{IMAGES}.gz": (mnist_dir / f"{IMAGES}.gz").read_bytes()}
    )
    monkeypatch.setattr(mnist, "MIRRORS", (mirror.as_uri(),))
    data = load_mnist(cache_dir=tmp_path, download=True)
    assert data.images.shape == (10000, 28, 28)
    assert not (tmp_path / "mnist" / f"{LABELS}.gz").exists()


def test_download_rejects_damaged_mirror(raw_bytes, tmp_path, monkeypatch):
    bad = write_folder(
        tmp_path / "bad-mirror",
        {f"{IMAGES}.gz": gzip.compress(flipped(raw_bytes[IMAGES], 5000), compresslevel=1)},
    )
    missing = tmp_path / "no-mirror"
    monkeypatch.setattr(mnist, "MIRRORS", (bad.as_uri(), missing.as_uri()))
    with pytest.raises(MNISTError) as info:
        load_mnist(cache_dir=tmp_path, download=True)
    message = str(info.value)
    assert f"could not download {IMAGES}.gz from any mirror" in message
    assert "sha256" in message and bad.as_uri() in message and missing.as_uri() in message
    assert "root=" in message
    assert not (tmp_path / "mnist" / f"{IMAGES}.gz").exists()


# ---------------------------------------------------------------------------- split
def class_counts(labels, idx):
    return np.bincount(labels[idx], minlength=10).tolist()


def test_split_of_the_test_set(mnist_dir, tmp_path):
    labels = load_mnist(root=mnist_dir, cache_dir=tmp_path).labels
    train, evaluate = mnist_split(labels)
    assert train.dtype == np.int64 and evaluate.dtype == np.int64
    assert len(train) == 8000 and len(evaluate) == 2000
    assert (np.diff(train) > 0).all() and (np.diff(evaluate) > 0).all()
    assert np.intersect1d(train, evaluate).size == 0
    # 0.8 * N_c = 784, 908, 825.6, 808, 785.6, 713.6, 766.4, 822.4, 779.2, 807.2: the floors sum
    # to 7997, and the 3 leftover units go to the fractional parts .6 (digits 2, 4, 5).
    expected_train = [784, 908, 826, 808, 786, 714, 766, 822, 779, 807]
    assert class_counts(labels, train) == expected_train
    # 8,000 + 2,000 = N, so evaluation takes every remaining sample of each class.
    assert class_counts(labels, evaluate) == [
        n - t for n, t in zip(COUNTS, expected_train, strict=True)
    ]


def test_split_is_seeded(rng):
    labels = rng.integers(0, 10, size=3000)
    a = mnist_split(labels, 1000, 500, seed=7)
    b = mnist_split(labels, 1000, 500, seed=7)
    c = mnist_split(labels, 1000, 500, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert class_counts(labels, a[0]) == class_counts(labels, c[0])


def test_split_proportions_random_cases(rng):
    for _ in range(300):
        k = int(rng.integers(1, 11))
        labels = rng.integers(0, k, size=int(rng.integers(1, 400)))
        n = len(labels)
        n_train = int(rng.integers(0, n + 1))
        n_eval = int(rng.integers(0, n - n_train + 1))
        train, evaluate = mnist_split(labels, n_train, n_eval, seed=int(rng.integers(1000)))
        assert len(train) == n_train and len(evaluate) == n_eval
        assert np.intersect1d(train, evaluate).size == 0
        classes, counts = np.unique(labels, return_counts=True)
        t = np.array([np.sum(labels[train] == c) for c in classes])
        e = np.array([np.sum(labels[evaluate] == c) for c in classes])
        # Integer forms of |t_c - n_train N_c / N| < 1 and |e_c - n_eval N_c / N| <= 1.
        assert (np.abs(t * n - n_train * counts) < n).all()
        assert (np.abs(e * n - n_eval * counts) <= n).all()


def test_split_errors():
    labels = np.zeros(10, dtype=np.uint8)
    with pytest.raises(MNISTError, match="n_train \\+ n_eval = 8 \\+ 3 = 11 exceeds the 10"):
        mnist_split(labels, 8, 3)
    with pytest.raises(MNISTError, match="1-D integer array"):
        mnist_split(np.zeros((2, 5), dtype=np.uint8), 1, 1)
    with pytest.raises(MNISTError, match="1-D integer array"):
        mnist_split(np.zeros(10), 1, 1)
    with pytest.raises(MNISTError, match="n_eval must be an integer >= 0"):
        mnist_split(labels, 1, -1)
    with pytest.raises(MNISTError, match="seed"):
        mnist_split(labels, 1, 1, seed=True)

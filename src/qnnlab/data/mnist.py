"""MNIST handwritten digits from IDX files, each checked by SHA-256 before it is parsed.

**Which files.** qnnlab loads only the MNIST *test* split (LeCun, Cortes, Burges; 10,000 images
of 28 x 28 pixels, CC BY-SA 3.0): ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``,
gzipped (``name.gz``) or not (``name``). A file is accepted only if the SHA-256 of its
*decompressed* bytes equals the value recorded in :data:`FILES`; gzip bytes differ between
mirrors and recompressions, the IDX content does not. The train split is refused: no
authoritative source (torchvision and TensorFlow Datasets publish MD5 / SHA-256 of the ``.gz``
bytes only, which the files in hand need not match) gives the SHA-256 of its decompressed files,
and an unverified file is never parsed.

**Training on the test split.** Experiments therefore split the 10,000 verified test images
themselves with :func:`mnist_split`: 8,000 for training and 2,000 for evaluation by default,
disjoint, each class in (almost exactly) its proportion of the whole split, and fixed by the seed.
The split is a reproducible recipe, not the official train/test protocol: accuracies measured on
it are not comparable with published MNIST test accuracies.

**Where the files are looked for** (:func:`load_mnist`), in this order, the first folder that
holds every file of the split winning:

1. ``root``, a folder the caller names;
2. the folder in the environment variable ``QNNLAB_MNIST``;
3. the cache, ``default_cache_dir() / "mnist"`` (``$QNNLAB_CACHE``, ``$XDG_CACHE_HOME/qnnlab``
   or ``~/.cache/qnnlab``), or ``cache_dir / "mnist"``;
4. with ``download=True``, each file missing from the cache is fetched from the mirrors in
   :data:`MIRRORS` in turn (plain ``urllib``) and kept in the cache once it verifies.

Files read from ``root`` or ``QNNLAB_MNIST`` are copied, gzipped, into the cache with an atomic
write, so the next call finds them without ``root``.

**IDX format.** A big-endian header: the magic number ``0x00000803`` (unsigned bytes, 3
dimensions) for images or ``0x00000801`` (1 dimension) for labels, then one ``uint32`` per
dimension, then ``prod(dims)`` bytes in C order. :func:`parse_idx` checks the magic number and
that the file is exactly ``4 + 4 * ndim + prod(dims)`` bytes long.

Every problem raises :class:`MNISTError` (an :class:`~qnnlab.engines.validation.InputError`) whose
one-line message names the file or setting, what is wrong and the fix.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qnnlab.checks import check_int, check_seed
from qnnlab.engines.validation import InputError
from qnnlab.runtime.caches import default_cache_dir
from qnnlab.runtime.checkpoint import atomic_write_bytes

#: Environment variable naming a folder that holds the MNIST IDX files.
ENV_VAR = "QNNLAB_MNIST"

#: Base URLs tried in order by ``load_mnist(download=True)``; each serves ``<name>.gz``.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Seconds to wait for a mirror before trying the next one.
DOWNLOAD_TIMEOUT = 60.0

#: IDX magic numbers: two zero bytes, type code 0x08 (unsigned byte), number of dimensions.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

_RECOPY = "delete it and re-download (load_mnist(download=True)) or re-copy it from a good source"
_WHERE_FIX = (
    f"pass root=<folder with the IDX files>, set {ENV_VAR}, or call load_mnist(download=True)"
)


class MNISTError(InputError):
    """MNIST files are missing, damaged or not IDX, or a setting is wrong; the message says what
    to do."""


@dataclass(frozen=True)
class IdxFile:
    """One IDX file of a split: its name without ``.gz`` and its decompressed content."""

    name: str
    magic: int
    n_bytes: int
    sha256: str


#: The files qnnlab can verify, per split: the SHA-256 and size of the *decompressed* bytes
#: (values from the data's README, ``shared/data/mnist/README.md``).
FILES: dict[str, tuple[IdxFile, IdxFile]] = {
    "test": (
        IdxFile(
            "t10k-images-idx3-ubyte",
            IMAGES_MAGIC,
            7_840_016,
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        IdxFile(
            "t10k-labels-idx1-ubyte",
            LABELS_MAGIC,
            10_008,
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
}


@dataclass(frozen=True, eq=False)
class MNIST:
    """One loaded split: ``images[i]`` (28 x 28, ``uint8`` in 0..255, 0 = background) shows the
    digit ``labels[i]`` (``uint8`` in 0..9). ``source`` is the folder the files were read from.

    The arrays are read-only views of the verified file content; copy them to modify.
    """

    images: np.ndarray
    labels: np.ndarray
    split: str
    source: Path

    def __repr__(self) -> str:
        return f"MNIST(split={self.split!r}, n={len(self.labels)}, source={str(self.source)!r})"


# ---------------------------------------------------------------------------- IDX parsing
def parse_idx(data: bytes, magic: int, path: str | Path = "<bytes>") -> np.ndarray:
    """The ``uint8`` array stored in IDX bytes whose header must carry ``magic``.

    ``path`` only names the file in the error message. The array is a read-only view of
    ``data`` (no copy).
    """
    ndim = magic & 0xFF
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = f"0x{int.from_bytes(data[:4], 'big'):08x}" if len(data) >= 4 else "nothing"
        raise MNISTError(
            f"{path} is not an IDX file of {ndim}-D unsigned bytes: magic number {found}, "
            f"expected 0x{magic:08x}; {_RECOPY}."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MNISTError(
            f"{path} ends inside its IDX header ({len(data)} bytes, the header alone is "
            f"{header}); {_RECOPY}."
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise MNISTError(
            f"{path} has {len(data)} bytes but its IDX header (dims {dims}) says {expected}; "
            f"{_RECOPY}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


# ---------------------------------------------------------------------------- files
def _candidates(folder: Path, spec: IdxFile) -> list[Path]:
    return [folder / f"{spec.name}.gz", folder / spec.name]


def _find(folder: Path, spec: IdxFile) -> Path | None:
    return next((p for p in _candidates(folder, spec) if p.is_file()), None)


def _decompressed(raw: bytes, where: str) -> bytes:
    """``raw`` gunzipped when ``where`` (a path or URL) ends in ``.gz``, else ``raw``."""
    if not where.endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise MNISTError(
            f"{where} is damaged: it cannot be decompressed as gzip ({err}); {_RECOPY}."
        ) from err


def _verify(content: bytes, spec: IdxFile, where: str) -> None:
    """Raise :class:`MNISTError` unless ``content`` has the recorded SHA-256."""
    actual = hashlib.sha256(content).hexdigest()
    if actual != spec.sha256:
        raise MNISTError(
            f"{where} is damaged: sha256 of its decompressed bytes is {actual}, expected "
            f"{spec.sha256} ({len(content)} bytes, expected {spec.n_bytes}); {_RECOPY}."
        )


def _gzip_bytes(raw: bytes, path: Path) -> bytes:
    """``raw`` as gzip bytes (unchanged when ``path`` is already a ``.gz`` file)."""
    return raw if path.suffix == ".gz" else gzip.compress(raw, compresslevel=6, mtime=0)


def _keep_in_cache(cache: Path, spec: IdxFile, gz: bytes) -> None:
    """Copy verified gzip bytes to ``cache/<name>.gz`` (atomically) unless already there."""
    target = cache / f"{spec.name}.gz"
    try:
        if target.is_file() and target.read_bytes() == gz:
            return
        atomic_write_bytes(target, gz)
    except OSError as err:
        warnings.warn(
            f"MNIST file {spec.name} was not copied into the cache {cache} ({err}); later "
            f"calls need root= or {ENV_VAR} again. Pass cache_dir= a writable folder or set "
            "QNNLAB_CACHE.",
            UserWarning,
            stacklevel=3,
        )


def _download(cache: Path, spec: IdxFile) -> None:
    """Fetch ``<name>.gz`` from the first mirror whose copy verifies; keep it in ``cache``."""
    failures = []
    for mirror in MIRRORS:
        url = mirror.rstrip("/") + f"/{spec.name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                raw = response.read()
            _verify(_decompressed(raw, url), spec, url)
        # URLError and timeouts are OSErrors, MNISTError and bad URLs ValueErrors.
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"{url}: {err}")
            continue
        try:
            atomic_write_bytes(cache / f"{spec.name}.gz", raw)
        except OSError as err:
            raise MNISTError(
                f"cannot write the downloaded {spec.name}.gz into the cache {cache} ({err}); "
                "pass cache_dir= a writable folder or set QNNLAB_CACHE."
            ) from err
        return
    raise MNISTError(
        f"could not download {spec.name}.gz from any mirror ({' | '.join(failures)}); check the "
        "network connection, or download the files by hand and pass root=<their folder>."
    )


def _folder_setting(value, label: str) -> Path:
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise MNISTError(
            f"MNIST folder {folder} ({label}) does not exist or is not a folder; point it at the "
            "folder that holds the IDX files, or leave it unset to use the cache or "
            "download=True."
        )
    return folder


def _resolve_split(split) -> tuple[IdxFile, IdxFile]:
    if split == "train":
        raise MNISTError(
            "only the MNIST test split is supported: qnnlab knows no authoritative SHA-256 of the "
            "decompressed train files and never parses an unverified file; load split='test' "
            "and cut it into training and evaluation sets with mnist_split()."
        )
    if not isinstance(split, str) or split not in FILES:
        raise MNISTError(f"unknown MNIST split {split!r}; use split='test'.")
    return FILES[split]


def load_mnist(
    split: str = "test",
    root: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: bool = False,
) -> MNIST:
    """Load a verified MNIST split (only ``"test"``; module docstring for why).

    Looks in ``root``, then ``$QNNLAB_MNIST``, then ``cache_dir / "mnist"`` (``cache_dir``
    defaults to :func:`~qnnlab.runtime.caches.default_cache_dir`), and with ``download=True``
    fetches what the cache lacks from :data:`MIRRORS`. Each file may be ``name.gz`` or ``name``;
    its decompressed bytes must have the SHA-256 in :data:`FILES`. Files found in ``root`` or
    ``$QNNLAB_MNIST`` are copied, gzipped, into the cache.

    Raises:
        MNISTError: unknown or unsupported split, a named folder that does not exist, files
            missing everywhere (the message lists where it looked), a damaged file (expected
            and actual SHA-256) or a bad IDX header.
    """
    specs = _resolve_split(split)
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache = base / "mnist"
    settings: list[tuple[str | Path, str]] = []
    if root is not None:
        settings.append((root, "root="))
    if os.environ.get(ENV_VAR):
        settings.append((os.environ[ENV_VAR], f"${ENV_VAR}"))

    source, found, searched = None, None, []
    for value, label in [*settings, (cache, "cache")]:
        folder = cache if label == "cache" else _folder_setting(value, label)
        paths = [_find(folder, spec) for spec in specs]
        if all(p is not None for p in paths):
            source, found = folder, paths
            break
        lacking = ", ".join(f"{s.name}[.gz]" for s, p in zip(specs, paths, strict=True) if not p)
        state = "folder does not exist" if not folder.is_dir() else f"missing {lacking}"
        searched.append(f"{folder} ({label}: {state})")
    if source is None:
        if not download:
            raise MNISTError(
                f"MNIST {split} files not found: looked in {'; '.join(searched)}; {_WHERE_FIX}."
            )
        for spec in specs:
            if _find(cache, spec) is None:
                _download(cache, spec)
        source, found = cache, [_find(cache, spec) for spec in specs]

    copy_to_cache = source != cache and not _same_folder(source, cache)
    arrays = []
    for spec, path in zip(specs, found, strict=True):
        raw = path.read_bytes()
        content = _decompressed(raw, str(path))
        _verify(content, spec, str(path))
        arrays.append(parse_idx(content, spec.magic, path))
        if copy_to_cache:
            _keep_in_cache(cache, spec, _gzip_bytes(raw, path))
    images, labels = arrays
    return MNIST(images=images, labels=labels, split=split, source=source)


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return b.exists() and a.samefile(b)
    except OSError:
        return False


# ---------------------------------------------------------------------------- split
def _largest_remainder(total: int, weights: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Integers ``k_c <= cap_c`` summing to ``total``: ``floor(total * w_c / sum w)`` each, plus
    the leftover units given one at a time in order of largest fractional part (ties: lower
    class first), skipping classes at their cap. Exact integer arithmetic (``w`` integers)."""
    numerator = total * weights.astype(np.int64)
    whole, remainder = np.divmod(numerator, int(weights.sum()))
    counts = np.minimum(whole, cap)
    order = np.argsort(-remainder, kind="stable")
    left = total - int(counts.sum())
    while left > 0:
        for c in order:
            if left > 0 and counts[c] < cap[c]:
                counts[c] += 1
                left -= 1
    return counts


def mnist_split(
    labels, n_train: int = 8000, n_eval: int = 2000, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified choice of ``n_train`` training and ``n_eval`` evaluation indices.

    With ``N`` samples of which ``N_c`` have class ``c``, class ``c`` gets ``t_c`` training and
    ``e_c`` evaluation samples. ``t_c`` is its share ``n_train * N_c / N`` rounded down or up
    (largest remainders: every class gets the floor, the ``n_train - sum floor`` leftover units go
    to the largest fractional parts, ties to the lower class). ``e_c`` is ``n_eval * N_c / N``
    rounded the same way among the ``N_c - t_c`` samples left; when a class has none left (only
    if ``n_train + n_eval`` is within a few samples of ``N``) its unit goes to the next class. So
    ``e_c >= floor(n_eval N_c / N)``; ``|e_c - n_eval N_c / N| < 1`` when ``n_train + n_eval = N``
    (as for 8,000 + 2,000 of the 10,000 test images: then ``e_c = N_c - t_c``) and ``<= 1`` in
    every other case tested (an observed bound, not a proved one).

    Each class's indices are shuffled by ``numpy.random.default_rng(seed)`` (classes in
    increasing order); the first ``t_c`` train, the next ``e_c`` evaluate. The two arrays are
    sorted ``int64``, disjoint, and depend only on ``labels``, the sizes and ``seed``.

    For the MNIST test split, ``mnist_split(data.labels)`` gives the 8,000 / 2,000 split the
    experiments use (module docstring).

    Raises:
        MNISTError: ``labels`` not a 1-D integer array, sizes not non-negative integers, a bad
            seed, or ``n_train + n_eval`` larger than the number of samples.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise MNISTError(
            f"labels must be a 1-D integer array (like MNIST.labels), got shape {arr.shape} and "
            f"dtype {arr.dtype}."
        )
    n_train = check_int("n_train", n_train, minimum=0, error=MNISTError)
    n_eval = check_int("n_eval", n_eval, minimum=0, error=MNISTError)
    seed = check_seed("seed", seed, error=MNISTError)
    if n_train + n_eval > len(arr):
        raise MNISTError(
            f"n_train + n_eval = {n_train} + {n_eval} = {n_train + n_eval} exceeds the "
            f"{len(arr)} samples; ask for fewer (the MNIST test split has 10,000)."
        )
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    classes, counts = np.unique(arr, return_counts=True)
    n_tr = _largest_remainder(n_train, counts, counts)
    n_ev = _largest_remainder(n_eval, counts, counts - n_tr)
    rng = np.random.default_rng(seed)
    train, evaluate = [], []
    for c, t, e in zip(classes, n_tr, n_ev, strict=True):
        perm = rng.permutation(np.flatnonzero(arr == c))
        train.append(perm[:t])
        evaluate.append(perm[t : t + e])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(evaluate))


def load_mnist_split(
    n_train: int = 8000,
    n_eval: int = 2000,
    *,
    seed: int = 0,
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(images, labels, train_idx, eval_idx)`` of the verified test split, ready for training:
    ``float32`` pixels in ``[0, 1]`` ``(N, 28, 28)``, ``int32`` labels, and
    :func:`mnist_split` ``(labels, n_train, n_eval, seed=seed)``. ``root``, ``cache_dir`` and
    ``download`` as for :func:`load_mnist`."""
    data = load_mnist("test", root, cache_dir=cache_dir, download=download)
    train_idx, eval_idx = mnist_split(data.labels, n_train, n_eval, seed=seed)
    images = data.images.astype(np.float32) / 255.0
    return images, data.labels.astype(np.int32), train_idx, eval_idx

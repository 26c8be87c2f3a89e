"""Images to amplitude-encoded patches: the classical-to-quantum step of QuCNN.

A 2-D convolution reads an image ``(C, H, W)`` through a window of ``C x kh x kw`` pixels that
moves with ``stride`` over the image padded with zeros. :func:`extract_patches` returns every
window as a flat vector ``x`` (channel-major: entry ``c kh kw + i kw + j`` is pixel ``(c, i, j)``
of the window), in the order a ``Conv2d`` produces its output positions, so that a classical
filter ``w`` flattened the same way gives ``Conv(X, W)_{h,w} = w . x_{h,w}`` (QuCNN, Eq. 1).

Amplitude encoding (:func:`amplitude_encode`) pads ``x`` with zeros to ``2**k`` entries
(``k = ceil(log2(C kh kw))`` qubits; a 4x4 patch needs 4) and normalises it,
``|x> = sum_i x_i |i> / ||x||``, the state a QRAM or a state-preparation circuit
(:mod:`qnnlab.circuits.state_prep`) loads.

**Empty patches.** A window whose pixels are all zero (the background of an MNIST digit) has no
state. The rule used everywhere in qnnlab: such a patch is *not occupied*, it encodes to the zero
vector, and a QuCNN feature there is exactly ``0``, which is what the classical convolution
gives for it (``w . 0 = 0``); no circuit is run for it and no shot noise is added. A window with
a NaN or an infinity is also marked not occupied inside the pure functions (so a traced
computation never produces NaN), but the checked entry point :func:`as_image_batch` refuses such
images first, naming the image and pixel, so a NaN input is never silently read as background.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.engines.validation import InputError


def _pair(value, what: str) -> tuple[int, int]:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        a, b = value
    except (TypeError, ValueError):
        raise InputError(f"{what} must be an int or a pair of ints, got {value!r}.") from None
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise InputError(f"{what} must hold positive integers, got {value!r}.")
    return int(a), int(b)


def check_window(kernel_size, stride, padding) -> tuple[tuple, tuple, object]:
    """Normalised ``(kernel (kh, kw), stride (sh, sw), padding)`` or :class:`InputError`.

    ``padding`` is ``"valid"`` (none), ``"same"`` (output size ``ceil(H / sh)``), an int ``p``
    (``p`` zero pixels on every side) or a pair ``(ph, pw)``.
    """
    kernel = _pair(kernel_size, "kernel_size")
    stride = _pair(stride, "stride")
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise InputError(f"padding must be 'valid', 'same' or ints, got {padding!r}.")
        return kernel, stride, padding.upper()
    if isinstance(padding, int | np.integer) and not isinstance(padding, bool):
        padding = (int(padding), int(padding))
    try:
        ph, pw = padding
        ok = all(
            isinstance(p, int | np.integer) and not isinstance(p, bool) and p >= 0 for p in (ph, pw)
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(
            f"padding must be 'valid', 'same', an int >= 0 or a pair, got {padding!r}."
        )
    return kernel, stride, ((int(ph), int(ph)), (int(pw), int(pw)))


def output_size(height: int, width: int, kernel_size, stride=1, padding=0) -> tuple[int, int]:
    """``(H', W')`` of the feature map, as a ``Conv2d`` with the same window computes it."""
    (kh, kw), (sh, sw), pad = check_window(kernel_size, stride, padding)
    if pad == "SAME":
        return math.ceil(height / sh), math.ceil(width / sw)
    if pad == "VALID":
        pad = ((0, 0), (0, 0))
    out_h = (height + sum(pad[0]) - kh) // sh + 1
    out_w = (width + sum(pad[1]) - kw) // sw + 1
    if out_h < 1 or out_w < 1:
        raise InputError(
            f"a {kh}x{kw} window does not fit a {height}x{width} image with padding {pad}; "
            "use a smaller kernel_size or more padding."
        )
    return out_h, out_w


def as_image_batch(images, in_channels: int = 1):
    """Checked ``(B, C, H, W)`` float32 batch from ``(B, H, W)`` (one channel) or ``(B, C, H, W)``.

    Integer images (e.g. MNIST ``uint8``) are converted to float; the scale does not matter
    since every patch is normalised. Raises :class:`InputError` for other shapes, a channel
    count other than ``in_channels``, or non-finite pixels (naming the first bad image).
    """
    arr = images if isinstance(images, jax.Array | np.ndarray) else np.asarray(images)
    if arr.ndim == 3 and in_channels == 1:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[1] != in_channels:
        raise InputError(
            f"images have shape {tuple(arr.shape)}; expected (batch, {in_channels}, H, W)"
            + (" or (batch, H, W)" if in_channels == 1 else "")
            + ". A single image needs a leading batch axis: images[None]."
        )
    if not (
        np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.complexfloating)
    ):
        raise InputError(f"images must be real numbers, got dtype {arr.dtype}.")
    if not isinstance(arr, jax.core.Tracer):
        host = np.asarray(arr)
        bad = ~np.isfinite(host) if np.issubdtype(host.dtype, np.floating) else None
        if bad is not None and bad.any():
            b, c, i, j = (int(v) for v in np.argwhere(bad)[0])
            raise InputError(
                f"image {b} has a non-finite pixel (channel {c}, row {i}, column {j}): "
                f"{host[b, c, i, j]!r}; replace NaN/inf before encoding (e.g. np.nan_to_num)."
            )
    return jnp.asarray(arr, jnp.float32)


def extract_patches(images, kernel_size, stride=1, padding=0):
    """Pure ``(B, C, H, W) -> (B, H', W', C kh kw)``: every window, flattened channel-major."""
    kernel, strides, pad = check_window(kernel_size, stride, padding)
    patches = jax.lax.conv_general_dilated_patches(
        images,
        filter_shape=kernel,
        window_strides=strides,
        padding=pad,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST,
    )
    return jnp.moveaxis(patches, 1, -1)


def n_encoding_qubits(patch_size: int) -> int:
    """Qubits that amplitude-encode ``patch_size`` numbers: ``max(1, ceil(log2 patch_size))``."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise InputError(f"patch size must be a positive integer, got {patch_size!r}.")
    return max(1, (patch_size - 1).bit_length())


def amplitude_encode(patches, dim: int | None = None):
    """Pure ``(..., P) -> (states (..., dim), occupied (...))`` (module docstring's empty rule).

    ``states`` are real unit vectors ``x / ||x||`` padded with zeros to ``dim`` (default
    ``2**n_encoding_qubits(P)``); ``occupied`` is False for all-zero or non-finite patches,
    whose state is the zero vector. Differentiable in ``patches`` away from empty patches, and
    NaN-free at them.
    """
    size = patches.shape[-1]
    dim = 2 ** n_encoding_qubits(size) if dim is None else dim
    if dim < size:
        raise InputError(f"cannot encode {size} numbers into {dim} amplitudes.")
    finite = jnp.all(jnp.isfinite(patches), axis=-1)
    x = jnp.where(finite[..., None], patches, 0.0)
    if dim > size:
        x = jnp.concatenate([x, jnp.zeros((*x.shape[:-1], dim - size), x.dtype)], axis=-1)
    norm_sq = jnp.sum(x * x, axis=-1)
    occupied = finite & (norm_sq > 0)
    inv_norm = jnp.where(occupied, jax.lax.rsqrt(jnp.where(occupied, norm_sq, 1.0)), 0.0)
    return x * inv_norm[..., None], occupied

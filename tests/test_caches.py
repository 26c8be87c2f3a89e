"""The cache root and the switch for JAX's persistent compilation cache."""

import subprocess
import sys

import jax

from qnnlab.runtime.caches import enable_compilation_cache


def test_compilation_cache_can_be_turned_off(monkeypatch):
    before = jax.config.jax_compilation_cache_dir
    for value in ("0", "off", "False"):
        monkeypatch.setenv("QNNLAB_JAX_CACHE", value)
        assert enable_compilation_cache() is None
    assert jax.config.jax_compilation_cache_dir == before


def test_compilation_cache_goes_under_the_qnnlab_cache_root(tmp_path):
    # In a fresh process: the cache is process-global JAX state.
    code = (
        "import jax, os\n"
        "from qnnlab.runtime.caches import enable_compilation_cache\n"
        "path = enable_compilation_cache()\n"
        "assert jax.config.jax_compilation_cache_dir == str(path), path\n"
        "assert path.is_dir()\n"
        "print(path)\n"
    )
    env = {"QNNLAB_CACHE": str(tmp_path / "root"), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(tmp_path / "root" / "jax")

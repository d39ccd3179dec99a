# Shared fixtures for real-client checks: the masque binary and a temp dir.
import os
import subprocess
import pytest


@pytest.fixture(scope="session")
def masque_bin():
    path = os.environ.get("MASQUE_BIN")
    if not path or not os.path.exists(path):
        pytest.fail("MASQUE_BIN must point to the built masque executable")
    return path


@pytest.fixture(scope="session")
def masque_run(masque_bin):
    """masque with --quiet --threads 2 for module fixtures that build worlds;
    asserts exit 0 (with masque's stderr) unless check=False."""
    def run(*args, check=True):
        proc = subprocess.run([masque_bin, "--quiet", "--threads", "2", *map(str, args)],
                              capture_output=True, text=True, errors="replace")
        if check:
            assert proc.returncode == 0, f"masque {args} failed:\n{proc.stderr}"
        return proc
    return run


@pytest.fixture
def run_masque(masque_bin):
    def run(*args, check=True, **kw):
        proc = subprocess.run([masque_bin, "--quiet", *map(str, args)],
                              capture_output=True, text=True, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"masque {' '.join(map(str, args))} failed "
                                 f"({proc.returncode}):\n{proc.stderr}")
        return proc
    return run

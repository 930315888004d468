"""Shared test set-up: deterministic, single-threaded torch and no network but loopback."""
import os

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

import pytest  # noqa: E402
import torch  # noqa: E402

# One thread: on a loaded 2-core machine two threads made small training loops many times slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test on one thread, even after something changed it: with two threads on a shared, busy 2-core
    machine a 25-step overfit of a tiny network took 30x longer (12 s instead of 0.4 s). Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

# --doctest-modules would import every conftest.py as a module named "conftest", and they clash; they hold no
# doctests, so keep them out of collection (pytest still loads them as conftests).
collect_ignore_glob = ["conftest.py", "*/conftest.py"]

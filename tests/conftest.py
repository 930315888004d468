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

# --doctest-modules would import every conftest.py as a module named "conftest", and they clash; they hold no
# doctests, so keep them out of collection (pytest still loads them as conftests).
collect_ignore_glob = ["conftest.py", "*/conftest.py"]

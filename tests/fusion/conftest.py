"""The fusion tests run on one thread: the shared test machine is small and busy, and two threads on a loaded
machine spend their time waiting for each other."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

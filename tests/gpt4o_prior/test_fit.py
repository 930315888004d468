"""gpt4o_prior.fit: fit_to_size and undo_fit invert each other, also when the service returns another size; choose_size
and its argument errors."""
import json

import numpy as np
import pytest

from gpt4o_prior.align import align_prior
from gpt4o_prior.fit import choose_size, fit_to_size, undo_fit
from tests.helpers.images import scene

cv2 = pytest.importorskip("cv2")


@pytest.mark.parametrize("mode", ["pad", "resize", "crop"])
@pytest.mark.parametrize("size", [(256, 256), (384, 256), (256, 384)])
def test_fit_then_undo_returns_the_input(mode, size):
    img = cv2.GaussianBlur(scene(1), (0, 0), 1.5)
    sent, rec = fit_to_size(img, size, mode=mode)
    assert sent.shape == (size[1], size[0], 3) and sent.dtype == np.uint8
    json.dumps(rec)
    back = undo_fit(sent, rec)
    assert back.shape == img.shape
    err = np.abs(back.astype(int) - img.astype(int))
    if mode == "crop":  # the cropped-away border is not in the prior
        h, w = img.shape[:2]
        keep = np.zeros((h, w), bool)
        x0, y0 = max(0, -rec["offset"][0] / rec["scale"][0]), max(0, -rec["offset"][1] / rec["scale"][1])
        keep[int(y0) + 2:h - int(y0) - 2, int(x0) + 2:w - int(x0) - 2] = True
        err = err[keep]
    assert err.mean() < 2.5, err.mean()


def test_undo_handles_a_returned_size_other_than_the_sent_one():
    img = cv2.GaussianBlur(scene(2), (0, 0), 1.5)
    sent, rec = fit_to_size(img, (256, 256), mode="pad")
    returned = cv2.resize(sent, (384, 384), interpolation=cv2.INTER_CUBIC)
    assert np.abs(undo_fit(returned, rec).astype(int) - img).mean() < 2.5


def test_choose_size_and_argument_errors():
    assert choose_size(100, 100) == (1024, 1024) and choose_size(600, 400) == (1024, 1536)
    with pytest.raises(ValueError, match="mode"):
        fit_to_size(scene(0), (64, 64), mode="stretch")
    with pytest.raises(ValueError, match=r"img must be an \(H, W, 3\) uint8"):
        fit_to_size(scene(0).astype(np.float32), (64, 64))
    with pytest.raises(ValueError, match="fit record"):
        undo_fit(scene(0), {"mode": "pad"})
    _, rec = fit_to_size(scene(0), (64, 64))
    with pytest.raises(ValueError, match="record made for this input"):
        align_prior(scene(0), scene(0, 50, 50), record=rec)
    with pytest.raises(ValueError, match="motion"):
        align_prior(scene(0), scene(0), motion="elastic")

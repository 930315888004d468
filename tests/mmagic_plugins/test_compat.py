"""MMagic 1.2.0 imports with numpy 2 and mmcv-lite after the shims, and a restoration model trains a step."""
import subprocess
import sys

import pytest
import torch


def test_shims_make_import_work_in_fresh_process():
    code = (
        "import sys, warnings; warnings.simplefilter('ignore')\n"
        "import numpy as np\n"
        "had_bool8 = 'bool8' in np.__dict__\n"
        "import importlib.util\n"
        "had_ext = importlib.util.find_spec('mmcv._ext') is not None\n"
        "from mmagic_plugins.compat import patch_numpy, patch_mmcv_ext, _MissingExt  # the package applies both\n"
        "stub = isinstance(sys.modules.get('mmcv._ext'), _MissingExt)\n"
        "print(had_bool8, 'bool8' in np.__dict__, had_ext, stub, patch_numpy(), patch_mmcv_ext())\n"
        "import mmagic.models\n"
        "from mmagic.utils import register_all_modules\n"
        "register_all_modules(init_default_scope=True)\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    had_bool8, has_bool8, had_ext, stub, np_again, ext_again = res.stdout.split()[-7:-1]
    assert has_bool8 == "True"
    assert stub == str(had_ext == "False")  # the stand-in only where the compiled extension is missing
    assert (np_again, ext_again) == ("False", "False")  # idempotent


def _build_nafnet_model():
    import mmagic_plugins  # noqa: F401  (applies the shims)
    from mmagic.registry import MODELS
    from mmagic.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return MODELS.build(dict(
        type="BaseEditModel",
        generator=dict(type="NAFNet", img_channels=3, mid_channels=8, middle_blk_num=1,
                       enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]),
        pixel_loss=dict(type="L1Loss", loss_weight=1.0, reduction="mean"),
        data_preprocessor=dict(type="DataPreprocessor", mean=[0.0] * 3, std=[255.0] * 3),
    ))


def test_base_edit_model_nafnet_loss_step():
    from mmagic.structures import DataSample

    model = _build_nafnet_model()
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = dict(
        inputs=[torch.randint(0, 255, (3, 16, 16)).float() for _ in range(2)],
        data_samples=[DataSample(gt_img=torch.randint(0, 255, (3, 16, 16)).float()) for _ in range(2)],
    )
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode="loss")
    loss = sum(v for v in losses.values())
    loss.backward()
    optim.step()
    assert torch.isfinite(loss)
    out = model(**model.data_preprocessor(data, training=False), mode="tensor")
    assert out.shape == (2, 3, 16, 16)


def test_compiled_op_fails_clearly():
    import mmagic_plugins  # noqa: F401
    import mmcv.ops

    from mmagic_plugins.compat import MissingMMCVOp, _MissingExt

    assert isinstance(sys.modules["mmcv._ext"], _MissingExt)  # this environment has mmcv-lite
    with pytest.raises(MissingMMCVOp, match="mmcv-lite"):
        mmcv.ops.deform_conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 18, 4, 4), torch.zeros(1, 1, 3, 3))

"""BasicSR 1.4.2 imports and builds a network through its registry after the torchvision shim."""
import subprocess
import sys

import torch


def test_patch_is_needed_and_applied_in_fresh_process():
    code = (
        "import importlib.util, sys\n"
        "missing = importlib.util.find_spec('torchvision.transforms.functional_tensor') is None\n"
        "from basicsr_plugins.compat import patch_torchvision  # importing the package applies it\n"
        "applied = sys.modules.get('torchvision.transforms.functional_tensor') is \\\n"
        "    sys.modules.get('torchvision.transforms._functional_tensor')\n"
        "import basicsr\n"
        "from basicsr.train import train_pipeline\n"
        "print(missing, applied, patch_torchvision())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    missing, applied, again = out[-3:]
    assert applied == missing  # aliased exactly when torchvision lacks the old module
    assert again == "False"  # idempotent


def test_build_arch_from_registry():
    import basicsr_plugins  # noqa: F401  (applies the shim)
    from basicsr.archs import build_network
    from basicsr.archs import ARCH_REGISTRY

    assert "MSRResNet" in ARCH_REGISTRY
    net = build_network({"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_block": 1,
                         "upscale": 2})
    y = net(torch.rand(1, 3, 12, 12))
    assert y.shape == (1, 3, 24, 24)

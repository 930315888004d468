"""The G4P* architectures in BasicSR's ARCH_REGISTRY: names resolve, build_network builds, registering is idempotent."""
import pytest
import torch

import basicsr_plugins  # noqa: F401  (before basicsr: torchvision alias)
import basicsr_plugins.archs as bp_archs
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY, Registry

from gpt4o_prior.archs import NAFNet, NAFNetLocal, Restormer, Retinexformer

NAMES = {"G4PNAFNet": NAFNet, "G4PNAFNetLocal": NAFNetLocal, "G4PRestormer": Restormer,
         "G4PRetinexformer": Retinexformer}


@pytest.mark.parametrize("name", list(NAMES))
def test_names_resolve(name):
    cls = ARCH_REGISTRY.get(name)
    assert cls.__name__ == name and issubclass(cls, NAMES[name])
    assert cls is getattr(bp_archs, name)


@pytest.mark.parametrize("opt, shape", [
    ({"type": "G4PNAFNet", "width": 8, "enc_blk_nums": [1, 1], "middle_blk_num": 1, "dec_blk_nums": [1, 1]}, None),
    ({"type": "G4PNAFNetLocal", "width": 8, "enc_blk_nums": [1], "dec_blk_nums": [1], "train_size": [1, 3, 16, 16]},
     None),
    ({"type": "G4PRestormer", "dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1,
      "heads": [1, 2, 2, 4], "LayerNorm_type": "BiasFree"}, None),
    ({"type": "G4PRetinexformer", "n_feat": 8, "stage": 1, "num_blocks": [1, 1, 1]}, None),
])
def test_build_network(opt, shape):
    net = build_network(opt)
    assert type(net).__name__ == opt["type"]
    assert isinstance(net, NAMES[opt["type"]])
    assert net(torch.rand(1, 3, 11, 9)).shape == (1, 3, 11, 9)
    # the alias changes nothing in the state dict: a bare-class checkpoint loads strictly
    base = NAMES[opt["type"]](**{k: v for k, v in opt.items() if k != "type"})
    net.load_state_dict(base.state_dict(), strict=True)
    assert net.prior_attach_points == base.prior_attach_points


def test_register_twice_is_harmless():
    assert bp_archs.register_archs() == []  # done on import already
    reg = Registry("arch-test")
    assert bp_archs.register_archs(reg) == list(NAMES)
    assert bp_archs.register_archs(reg) == []
    assert sorted(reg.keys()) == sorted(NAMES)


def test_clash_with_another_object_is_an_error():
    reg = Registry("arch-test")
    reg.register(type("G4PNAFNet", (torch.nn.Module,), {}))
    with pytest.raises(RuntimeError, match="G4PNAFNet"):
        bp_archs.register_archs(reg)


def test_core_archs_do_not_import_frameworks():
    # read the imports of every module of gpt4o_prior.archs (a subprocess importing torch costs seconds here)
    import ast
    from pathlib import Path

    import gpt4o_prior.archs as pkg

    heavy = {"basicsr", "mmengine", "mmagic", "mmcv", "openai"}
    found = []
    for path in Path(pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in heavy]
    assert found == []

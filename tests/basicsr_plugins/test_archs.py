"""The G4P* architectures in BasicSR's ARCH_REGISTRY: names resolve, build_network builds, registering is idempotent;
G4PSpandrel builds any spandrel architecture by name or from an official checkpoint, and a release loads into it
inside the prior wrapper."""
import pytest
import torch

import basicsr_plugins  # noqa: F401  (before basicsr: torchvision alias)
import basicsr_plugins.archs as bp_archs
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY, Registry

from gpt4o_prior.archs import NAFNet, NAFNetLocal, Restormer, Retinexformer

NAMES = {"G4PNAFNet": NAFNet, "G4PNAFNetLocal": NAFNetLocal, "G4PRestormer": Restormer,
         "G4PRetinexformer": Retinexformer}
ALL = [*NAMES, "G4PSpandrel"]


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
    assert bp_archs.register_archs(reg) == ALL
    assert bp_archs.register_archs(reg) == []
    assert sorted(reg.keys()) == sorted(ALL)


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


TINY_SWINIR = dict(upscale=1, img_size=32, window_size=4, embed_dim=12, depths=[1], num_heads=[2], mlp_ratio=2,
                   upsampler="")


def test_spandrel_by_name_and_from_a_checkpoint(tmp_path, basicsr_log):
    pytest.importorskip("spandrel")
    net = build_network({"type": "G4PSpandrel", "arch": "SwinIR", **TINY_SWINIR})
    assert type(net).__name__ == "SwinIR"
    ckpt = tmp_path / "swinir_release.pth"
    torch.save({"params": net.state_dict()}, ckpt)  # as BasicSR-style releases store it
    again = build_network({"type": "G4PSpandrel", "checkpoint": str(ckpt)})
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), net.state_dict().values()))
    detected = [m for m in basicsr_log.messages if "G4PSpandrel detected" in m]
    assert detected and "SwinIR" in detected[0] and "[params]" in detected[0] and "embed_dim=12" in detected[0]


@pytest.mark.parametrize("opt, match", [
    ({"type": "G4PSpandrel"}, "needs either arch: NAME.*or checkpoint: PATH.*not neither"),
    ({"type": "G4PSpandrel", "arch": "DnCNN", "checkpoint": "x.pth"}, "not both"),
    ({"type": "G4PSpandrel", "checkpoint": "x.pth", "nc": 8}, "remove \\['nc'\\]"),
])
def test_spandrel_settings_errors(opt, match):
    pytest.importorskip("spandrel")
    with pytest.raises(ValueError, match=match):
        build_network(opt)
    with pytest.raises(KeyError, match="no architecture 'SwinIr'; did you mean SwinIR"):
        build_network({"type": "G4PSpandrel", "arch": "SwinIr"})
    with pytest.raises(TypeError, match="DnCNN does not take \\['width'\\].*its arguments: in_nc"):
        build_network({"type": "G4PSpandrel", "arch": "DnCNN", "width": 8})


def test_an_official_release_loads_into_a_spandrel_host_inside_the_prior_wrapper(toy, tmp_path, basicsr_log):
    """The one-line form on a host nobody here wrote: network_g G4PSpandrel, pretrain_network_g its release."""
    pytest.importorskip("spandrel")
    import copy

    from basicsr.models import build_model

    from basicsr_plugins.prior_option import apply_prior_option
    from tests.helpers.basicsr_toy import base_opt

    host_opt = {"type": "G4PSpandrel", "arch": "SwinIR", **TINY_SWINIR}
    torch.manual_seed(3)
    release = build_network(copy.deepcopy(host_opt))
    ckpt = tmp_path / "release.pth"
    torch.save({"params": release.state_dict()}, ckpt)
    opt = base_opt(toy, "spandrel")
    opt["network_g"] = host_opt
    apply_prior_option(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    opt["train"]["ema_decay"] = 0
    opt["path"].update(pretrain_network_g=str(ckpt), strict_load_g=True, models=str(tmp_path / "models"),
                       training_states=str(tmp_path / "states"), visualization=str(tmp_path / "vis"))
    model = build_model(opt)
    x, prior = torch.rand(1, 3, 30, 30), torch.rand(1, 3, 30, 30)
    with torch.no_grad():
        got, want = model.net_g(x, prior=prior), release.eval()(x)
    assert torch.allclose(got, want, atol=1e-5)  # the release, exactly, until the branch trains
    assert [p.layout for p in model.net_g.points] == ["BNC"]  # fused in its token body
    n = len(release.state_dict())
    reports = [m for m in basicsr_log.messages if "host tensors loaded" in m]
    assert len(reports) == 1 and f"loaded {n}/{n}, missing 0" in reports[0]


@pytest.mark.parametrize("official, opt", [
    ("NAFNet", {"width": 8, "enc_blk_nums": [1], "middle_blk_num": 1, "dec_blk_nums": [1]}),
    ("NAFNetLocal", {"width": 8, "enc_blk_nums": [1], "dec_blk_nums": [1], "train_size": [1, 3, 16, 16]}),
    ("Restormer", {"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "heads": [1, 1, 1, 1]}),
    ("RetinexFormer", {"n_feat": 8, "stage": 1, "num_blocks": [1, 1, 1]}),
])
def test_official_type_names_resolve_as_written(official, opt):
    net = build_network({"type": official, **opt})
    assert isinstance(net, bp_archs.OFFICIAL_NAMES[official])
    assert official not in ARCH_REGISTRY  # a fallback, not a registration


def test_a_users_own_registration_of_an_official_name_wins():
    reg = Registry("arch-test")
    assert bp_archs.resolve_official_names(reg) and not bp_archs.resolve_official_names(reg)
    assert reg.get("Restormer") is bp_archs.G4PRestormer

    @reg.register()
    class Restormer(torch.nn.Module):  # the fork's own Restormer_arch.py, registered by the user
        pass

    assert reg.get("Restormer") is Restormer
    with pytest.raises(KeyError, match="No object named 'MIRNet_v2'"):
        reg.get("MIRNet_v2")

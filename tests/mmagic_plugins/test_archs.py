"""mmagic_plugins.archs: ``G4PSpandrel`` builds any spandrel architecture as an MMagic generator, by name or from an
official checkpoint, and a PriorEditModel around it starts as that network and loads its bare checkpoint."""
import pytest
import torch

pytest.importorskip("spandrel")

GEN = dict(type="G4PSpandrel", arch="NAFNet", width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1])
PRE = dict(type="DataPreprocessor", mean=[0.0] * 3, std=[255.0] * 3)


def test_by_name_and_from_a_checkpoint(mm, tmp_path):
    from mmagic.registry import MODELS

    net = MODELS.build(GEN)
    assert type(net).__name__ == "NAFNet"
    ckpt = tmp_path / "release.pth"
    torch.save({"params": net.state_dict()}, ckpt)
    again = MODELS.build(dict(type="G4PSpandrel", checkpoint=str(ckpt)))
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), net.state_dict().values()))
    with pytest.raises(ValueError, match="model.generator of type G4PSpandrel needs either arch"):
        MODELS.build(dict(type="G4PSpandrel"))


def test_a_prior_edit_model_around_it_starts_as_the_bare_network(mm):
    from mmagic.registry import MODELS

    torch.manual_seed(0)
    bare = MODELS.build(dict(type="BaseEditModel", generator=GEN, pixel_loss=dict(type="L1Loss"),
                             data_preprocessor=PRE))
    model = MODELS.build(dict(type="PriorEditModel", generator=GEN, pixel_loss=dict(type="L1Loss"),
                              data_preprocessor=PRE))
    model.load_state_dict(bare.state_dict(), strict=False)
    report = model.host_load_report
    assert report["host_found"] == report["host_total"] == len(bare.generator.state_dict())
    img = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        got = model.generator(img, prior=torch.rand(2, 3, 20, 20))
        want = bare.generator(img)
    torch.testing.assert_close(got, want)


def test_input_channels_reaches_the_dry_run(mm):
    from mmagic.registry import MODELS

    cfg = dict(type="PriorEditModel", generator=GEN, pixel_loss=dict(type="L1Loss"), data_preprocessor=PRE)
    with pytest.raises(ValueError, match=r"tried \(1, 5, 64, 64\)"):
        MODELS.build(dict(cfg, input_channels=5))
    assert MODELS.build(dict(cfg, input_channels=3)).generator.attach_points

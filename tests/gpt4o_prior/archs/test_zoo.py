"""The zoo: ``attach_prior(at="auto")`` on architectures written outside this project (spandrel's copies of the
published networks, tiny settings), three fusion kinds each. Registry-driven, as the fusion tests are: every entry
of :data:`ZOO` gets the same checks: attach, identity at initialisation, gradients reach the branch, detach gives
the host back bit for bit (parameters, persistent and non-persistent buffers, output, no hook left), and
``prior_state_dict`` round-trips into a second attachment."""
from __future__ import annotations

import copy

import pytest
import torch

from gpt4o_prior import attach_prior
from tests.helpers.zoo import ZOO, flat_outputs, snapshot

pytest.importorskip("spandrel")

KINDS = ["sft", "concat", "input_concat"]


@pytest.fixture(scope="module")
def hosts():
    """Each zoo host built once (randomised so that identity checks are not trivially zero)."""
    return {}


def _host(hosts, name):
    if name not in hosts:
        hosts[name] = ZOO[name].build()
    return hosts[name]


def _perturb(net):
    with torch.no_grad():
        for p in net.branch_parameters():
            p.add_(torch.randn_like(p) * 0.05)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_host(hosts, name, kind):
    entry = ZOO[name]
    x = entry.example()
    prior = torch.rand(x.shape[0], 3, x.shape[-2] + 5, x.shape[-1] - 3)  # any size: resized to each point

    # attach, the identity at initialisation, detach gives the host back bit for bit
    host = copy.deepcopy(_host(hosts, name))
    with torch.no_grad():  # clones: some hosts scale their input in place
        want = flat_outputs(host(x.clone()))
    before = snapshot(host)  # after a first forward: SPAN rewrites its fused convolutions in every eval forward
    if kind in entry.refuses:  # what cannot work says so, and what to use instead
        with pytest.raises(ValueError, match=entry.refuses[kind]):
            attach_prior(host, fusion=kind, **entry.attach_kwargs)
        assert snapshot(host) == before
        return
    net = attach_prior(host, fusion=kind, **entry.attach_kwargs).eval()
    assert net.attach_points and net.prior_channels == 3, net.attach_points
    with torch.no_grad():
        got = flat_outputs(net(x.clone(), prior=prior))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and torch.allclose(g, w, atol=1e-5, rtol=1e-4), (name, kind)
    assert net.detach() is host
    assert snapshot(host) == before
    with torch.no_grad():
        again = flat_outputs(host(x.clone()))
    assert all(torch.equal(g, w) for g, w in zip(again, want)), (name, kind)

    # a second attachment trains: gradients reach the branch
    net = attach_prior(copy.deepcopy(_host(hosts, name)), fusion=kind, **entry.attach_kwargs).train()
    loss = sum(o.float().square().mean() for o in flat_outputs(net(x.clone(), prior=prior)))
    loss.backward()
    grads = [p.grad for p in net.branch_parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), (name, kind)

    # its (perturbed, as if trained) branch round-trips through prior_state_dict into a third attachment
    _perturb(net)
    net.eval()
    twin = attach_prior(copy.deepcopy(_host(hosts, name)), fusion=kind, **entry.attach_kwargs).eval()
    twin.host.load_state_dict(net.host.state_dict())  # the host as the training left it
    twin.load_prior_state_dict(net.prior_state_dict())
    with torch.no_grad():
        a = flat_outputs(net(x.clone(), prior=prior))
        b = flat_outputs(twin(x.clone(), prior=prior))
    assert all(torch.equal(u, v) for u, v in zip(a, b)), (name, kind)


def test_the_zoo_is_big_enough():
    from gpt4o_prior.archs import zoo

    assert len(ZOO) >= 12
    assert all(entry.arch in zoo.list_architectures() for entry in ZOO.values())


# ------------------------------------------------------------------ loading official checkpoints
def test_load_network_detects_a_release_and_reports_it(tmp_path):
    from gpt4o_prior.archs import build_network, load_network

    torch.manual_seed(2)
    release = build_network("SwinIR", **ZOO["SwinIR"].params)
    path = tmp_path / "001_classicalSR_DIV2K_s48w8_SwinIR-M_x1.pth"
    torch.save({"params_ema": release.state_dict(), "params": release.state_dict()}, path)
    report = load_network(path)
    assert report.architecture == "SwinIR" and report.class_name == "SwinIR" and report.state_key == "params_ema"
    assert report.hyperparameters["embed_dim"] == 12 and report.scale == 1 and report.input_channels == 3
    assert report.size_requirements["multiple_of"] >= 1 and not report.model.training
    assert all(torch.equal(a, b) for a, b in zip(report.model.state_dict().values(), release.state_dict().values()))
    text = str(report)
    assert "SwinIR (spandrel architecture SwinIR) from" in text and "[params_ema]" in text and "embed_dim=12" in text
    net = attach_prior(report.model)  # ready to attach
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.allclose(net(x, prior=torch.rand(1, 3, 24, 24)), release.eval()(x), atol=1e-5)


def test_load_network_reads_safetensors_and_refuses_pickles(tmp_path):
    from safetensors.torch import save_file

    from gpt4o_prior.archs import build_network, load_network

    net = build_network("NAFNet", **ZOO["NAFNet"].params)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "nafnet.safetensors"))
    assert load_network(tmp_path / "nafnet.safetensors").architecture == "NAFNet"
    torch.save({"params": net.state_dict(), "opt": _Pickled()}, tmp_path / "full_pickle.pth")
    with pytest.raises(ValueError, match="full_pickle.pth is not a weights-only checkpoint.*re-save its state dict"):
        load_network(tmp_path / "full_pickle.pth")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_network(tmp_path / "missing.pth")


class _Pickled:  # an arbitrary object inside a checkpoint: weights_only refuses it
    pass


def test_an_unknown_state_dict_says_what_to_do_instead():
    from gpt4o_prior.archs import load_network

    with pytest.raises(ValueError, match="recognises no architecture.*build the network yourself"):
        load_network({"params": {"my.weight": torch.zeros(3, 3)}})


def test_without_spandrel_the_error_says_what_to_install():
    import subprocess
    import sys

    code = ("import sys; sys.modules['spandrel'] = None\n"
            "from gpt4o_prior.archs import build_network\n"
            "try:\n    build_network('NAFNet')\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "pip install 'gpt4o-prior[spandrel]'" in out


# ------------------------------------------------------------------ one copy of each architecture (docs/archs.md)
@pytest.mark.parametrize("name, ours, params", [
    ("NAFNet", "NAFNet", dict(width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1])),
    ("Restormer", "Restormer", dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 1, 1, 1])),
    ("RetinexFormer", "Retinexformer", dict(n_feat=8, stage=1, num_blocks=[1, 1, 1])),
])
def test_ours_and_spandrels_are_one_architecture(name, ours, params):
    """The evidence behind keeping gpt4o_prior.archs beside spandrel: the same parameters (a state dict moves either
    way with strict=True) and the same outputs where both run; ours also run at sizes spandrel's copies refuse."""
    from gpt4o_prior import archs

    torch.manual_seed(0)
    mine = getattr(archs, ours)(**params).eval()
    theirs = archs.build_network(name, **params).eval()
    theirs.load_state_dict(mine.state_dict(), strict=True)
    mine.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(mine(x), theirs(x), atol=1e-6, rtol=1e-5)
        assert mine(torch.rand(1, 3, 30, 29)).shape == (1, 3, 30, 29)

"""gpt4o_prior.cli.import_released: importing released outputs stores them with their confidence (the simulated
generate beside it, for the same check), and --no-dense keeps the old behaviour."""
from PIL import Image

from gpt4o_prior.cache import PriorCache, sha256_bytes
from gpt4o_prior.dense_align import DENSE_VERSION
from tests.helpers.cli import run_cli


def test_import_and_simulated_generate_store_the_confidence(tmp_path):
    from gpt4o_prior.data import bundled_images, degrade, read_rgb, write_png
    from gpt4o_prior.providers.simulated import SimulatedProvider

    (tmp_path / "in").mkdir()
    (tmp_path / "gt").mkdir()
    (tmp_path / "rel").mkdir()
    for i, src in enumerate(bundled_images("val")[:2]):
        clean = read_rgb(src)[:64, :64]
        write_png(tmp_path / "gt" / f"im{i}.png", clean)
        write_png(tmp_path / "in" / f"im{i}.png", degrade(clean, "dehaze", seed=i))
        Image.fromarray(clean).resize((96, 96)).save(tmp_path / "rel" / f"im{i}.png")
    cache = tmp_path / "cache"
    for set_name, extra in (("rel", ()), ("rel-flat", ("--no-dense",))):
        r = run_cli("import", tmp_path / "rel", "--inputs", tmp_path / "in", "--cache", cache, "--set", set_name,
                 "--no-progress", *extra)
        assert r.returncode == 0, r.stdout + r.stderr
    for set_name, extra in (("sim", ()), ("sim-flat", ("--no-dense",))):
        r = run_cli("generate", tmp_path / "in", "--cache", cache, "--set", set_name, "--provider", "simulated",
                 "--targets", tmp_path / "gt", "--no-progress", *extra)
        assert r.returncode == 0 and "done 2" in r.stdout, r.stdout + r.stderr
    pc = PriorCache(cache)
    src = sha256_bytes((tmp_path / "in" / "im0.png").read_bytes())
    assert pc.find("rel", src).confidence_path is not None and pc.find("rel-flat", src).confidence_path is None
    sim, flat = pc.find("sim", src), pc.find("sim-flat", src)
    assert sim.confidence_path is not None and flat.confidence_path is None
    # the simulated key encodes the alignment: the dense version only when the dense step runs
    assert pc.get_set("sim").params["register"] == f"align_prior(affine)+dense(v{DENSE_VERSION})"
    assert pc.get_set("sim-flat").params["register"] == "align_prior(affine)"
    assert flat.meta["params"]["register"] == "align_prior(affine)" and sim.key != flat.key
    assert SimulatedProvider(register=True).params()["register"].endswith(f"+dense(v{DENSE_VERSION})")
    prior, conf = pc.load_prior("sim", tmp_path / "in" / "im0.png", with_confidence=True)
    assert prior.shape == (64, 64, 3) and conf.shape == (64, 64)
    assert pc.verify().ok

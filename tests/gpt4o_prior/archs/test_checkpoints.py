"""State-dict compatibility with the official releases, checked against key/shape tables written as data.

The tables below describe the official networks' parameters (megvii-research/NAFNet ``NAFNet_arch.py``,
swz30/Restormer ``restormer_arch.py``, caiyuanhao1998/Retinexformer ``RetinexFormer_arch.py``), written from the
structure of those files, not generated from our code: one table per repeated block, with shapes as expressions
of the block's channels, plus the top-level keys per network. :func:`expected_*` expand them for a configuration;
the tests compare the result with our models' ``state_dict()`` key for key and shape for shape, for every
published configuration, and check the parameter totals the papers state (Restormer 26.13 M, Retinexformer
1.61 M). The NAFNet totals are the tables' own (pinned so a table edit shows); NAFNet and Restormer tables were
also cross-checked once, by hand, against MMagic 1.2.0's ports, which load the converted official weights.

Big configurations are built on the ``meta`` device (shapes without memory); the load path users take,
``load_state_dict(torch.load(f, weights_only=True)["params"], strict=True)``, runs on a small one.
"""
import pytest
import torch

from gpt4o_prior.archs import NAFNet, NAFNetLocal, Restormer, Retinexformer


def _shape(expr: str, **env) -> tuple:
    return tuple(int(eval(tok, {}, env)) for tok in expr.split(",")) if expr else ()


def _block(table: dict, prefix: str, **env) -> dict:
    return {f"{prefix}.{k}": _shape(v, **env) for k, v in table.items()}


# ---------------------------------------------------------------------------------------------------- NAFNet
NAF_BLOCK = {  # one NAFBlock at c channels (DW_Expand = FFN_Expand = 2)
    "beta": "1,c,1,1", "gamma": "1,c,1,1",
    "conv1.weight": "2*c,c,1,1", "conv1.bias": "2*c",
    "conv2.weight": "2*c,1,3,3", "conv2.bias": "2*c",
    "conv3.weight": "c,c,1,1", "conv3.bias": "c",
    "sca.1.weight": "c,c,1,1", "sca.1.bias": "c",
    "conv4.weight": "2*c,c,1,1", "conv4.bias": "2*c",
    "conv5.weight": "c,c,1,1", "conv5.bias": "c",
    "norm1.weight": "c", "norm1.bias": "c", "norm2.weight": "c", "norm2.bias": "c",
}
NAF_TOP = {"intro.weight": "w,img,3,3", "intro.bias": "w", "ending.weight": "img,w,3,3", "ending.bias": "img"}
NAF_DOWN = {"weight": "2*c,c,2,2", "bias": "2*c"}  # downs.i, c = w * 2**i
NAF_UP = {"0.weight": "2*c,c,1,1"}  # ups.i, c = w * 2**(n - i)


def expected_nafnet(width, enc_blk_nums, middle_blk_num, dec_blk_nums, img_channel=3):
    keys = {k: _shape(v, w=width, img=img_channel) for k, v in NAF_TOP.items()}
    n = len(enc_blk_nums)
    for i, blocks in enumerate(enc_blk_nums):
        c = width * 2 ** i
        for j in range(blocks):
            keys.update(_block(NAF_BLOCK, f"encoders.{i}.{j}", c=c))
        keys.update(_block(NAF_DOWN, f"downs.{i}", c=c))
    for j in range(middle_blk_num):
        keys.update(_block(NAF_BLOCK, f"middle_blks.{j}", c=width * 2 ** n))
    for i, blocks in enumerate(dec_blk_nums):
        keys.update(_block(NAF_UP, f"ups.{i}", c=width * 2 ** (n - i)))
        for j in range(blocks):
            keys.update(_block(NAF_BLOCK, f"decoders.{i}.{j}", c=width * 2 ** (n - i - 1)))
    return keys


GOPRO = dict(enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1, dec_blk_nums=[1, 1, 1, 1])
SIDD = dict(enc_blk_nums=[2, 2, 4, 8], middle_blk_num=12, dec_blk_nums=[2, 2, 2, 2])
NAFNET_PUBLISHED = {  # official checkpoint: (class of its test option file, config, parameter total of the table)
    "NAFNet-GoPro-width32": (NAFNetLocal, dict(width=32, **GOPRO), 17_111_907),
    "NAFNet-GoPro-width64": (NAFNetLocal, dict(width=64, **GOPRO), 67_888_835),
    "NAFNet-REDS-width64": (NAFNetLocal, dict(width=64, **GOPRO), 67_888_835),
    "NAFNet-SIDD-width32": (NAFNet, dict(width=32, **SIDD), 29_159_715),
    "NAFNet-SIDD-width64": (NAFNet, dict(width=64, **SIDD), 115_982_915),
}

# ------------------------------------------------------------------------------------------------- Restormer
RESTORMER_BLOCK = {  # one TransformerBlock at c channels, m heads, hid = int(c * ffn_expansion_factor)
    "norm1.body.weight": "c", "norm2.body.weight": "c",
    "attn.temperature": "m,1,1",
    "attn.qkv.weight": "3*c,c,1,1", "attn.qkv_dwconv.weight": "3*c,1,3,3", "attn.project_out.weight": "c,c,1,1",
    "ffn.project_in.weight": "2*hid,c,1,1", "ffn.dwconv.weight": "2*hid,1,3,3", "ffn.project_out.weight": "c,hid,1,1",
}
RESTORMER_LN_BIAS = {"norm1.body.bias": "c", "norm2.body.bias": "c"}  # LayerNorm_type="WithBias" only
RESTORMER_TOP = {
    "patch_embed.proj.weight": "d,cin,3,3",
    "down1_2.body.0.weight": "d//2,d,3,3", "down2_3.body.0.weight": "d,2*d,3,3", "down3_4.body.0.weight": "2*d,4*d,3,3",
    "up4_3.body.0.weight": "16*d,8*d,3,3", "reduce_chan_level3.weight": "4*d,8*d,1,1",
    "up3_2.body.0.weight": "8*d,4*d,3,3", "reduce_chan_level2.weight": "2*d,4*d,1,1",
    "up2_1.body.0.weight": "4*d,2*d,3,3",
    "output.weight": "cout,2*d,3,3",
}
RESTORMER_DUAL = {"skip_conv.weight": "2*d,d,1,1"}
# level name -> (channels as a multiple of dim, index into heads / num_blocks; 4 = refinement)
RESTORMER_LEVELS = {
    "encoder_level1": (1, 0), "encoder_level2": (2, 1), "encoder_level3": (4, 2), "latent": (8, 3),
    "decoder_level3": (4, 2), "decoder_level2": (2, 1), "decoder_level1": (2, 0), "refinement": (2, 4),
}


def expected_restormer(inp_channels=3, out_channels=3, dim=48, num_blocks=(4, 6, 6, 8), num_refinement_blocks=4,
                       heads=(1, 2, 4, 8), ffn_expansion_factor=2.66, LayerNorm_type="WithBias",
                       dual_pixel_task=False):
    env = dict(d=dim, cin=inp_channels, cout=out_channels)
    keys = {k: _shape(v, **env) for k, v in RESTORMER_TOP.items()}
    if dual_pixel_task:
        keys.update({k: _shape(v, **env) for k, v in RESTORMER_DUAL.items()})
    for level, (mult, idx) in RESTORMER_LEVELS.items():
        c = dim * mult
        blocks = num_refinement_blocks if idx == 4 else num_blocks[idx]
        m = heads[0] if idx == 4 else heads[idx]
        for j in range(blocks):
            env = dict(c=c, m=m, hid=int(c * ffn_expansion_factor))
            keys.update(_block(RESTORMER_BLOCK, f"{level}.{j}", **env))
            if LayerNorm_type == "WithBias":
                keys.update(_block(RESTORMER_LN_BIAS, f"{level}.{j}", **env))
    return keys


RESTORMER_PUBLISHED = {  # official task -> constructor arguments (Restormer README / demo.py / test scripts)
    "deraining": {},
    "motion_deblurring": {},
    "single_image_defocus_deblurring": {},
    "dual_pixel_defocus_deblurring": dict(inp_channels=6, dual_pixel_task=True),
    "real_denoising": dict(LayerNorm_type="BiasFree"),
    "gaussian_color_denoising_blind": dict(LayerNorm_type="BiasFree"),
    "gaussian_gray_denoising_blind": dict(inp_channels=1, out_channels=1, LayerNorm_type="BiasFree"),
}

# --------------------------------------------------------------------------------------------- Retinexformer
IGAB_PAIR = {  # one (IG_MSA, PreNorm(FeedForward)) pair at c channels, m heads
    "0.to_q.weight": "c,c", "0.to_k.weight": "c,c", "0.to_v.weight": "c,c", "0.rescale": "m,1,1",
    "0.proj.weight": "c,c", "0.proj.bias": "c", "0.pos_emb.0.weight": "c,1,3,3", "0.pos_emb.2.weight": "c,1,3,3",
    "1.fn.net.0.weight": "4*c,c,1,1", "1.fn.net.2.weight": "4*c,1,3,3", "1.fn.net.4.weight": "c,4*c,1,1",
    "1.norm.weight": "c", "1.norm.bias": "c",
}
RETINEX_STAGE = {  # per stage, f = n_feat
    "estimator.conv1.weight": "f,4,1,1", "estimator.conv1.bias": "f",
    "estimator.depth_conv.weight": "f,f//4,5,5", "estimator.depth_conv.bias": "f",
    "estimator.conv2.weight": "3,f,1,1", "estimator.conv2.bias": "3",
    "denoiser.embedding.weight": "f,3,3,3", "denoiser.mapping.weight": "3,f,3,3",
}
RETINEX_ENC = {"1.weight": "2*c,c,4,4", "2.weight": "2*c,c,4,4"}  # encoder_layers.i, c = f * 2**i
RETINEX_DEC = {"0.weight": "c,c//2,2,2", "0.bias": "c//2", "1.weight": "c//2,c,1,1"}  # decoder_layers.i, c = 4f/2**i


def expected_retinexformer(n_feat=40, stage=1, num_blocks=(1, 2, 2)):
    keys, f = {}, n_feat
    for s in range(stage):
        p = f"body.{s}"
        keys.update(_block(RETINEX_STAGE, p, f=f))
        for i in range(2):
            c = f * 2 ** i
            keys.update(_block(RETINEX_ENC, f"{p}.denoiser.encoder_layers.{i}", c=c))
            for j in range(num_blocks[i]):
                keys.update(_block(IGAB_PAIR, f"{p}.denoiser.encoder_layers.{i}.0.blocks.{j}", c=c, m=c // f))
        for j in range(num_blocks[2]):
            keys.update(_block(IGAB_PAIR, f"{p}.denoiser.bottleneck.blocks.{j}", c=4 * f, m=4))
        for i in range(2):
            c = 4 * f // 2 ** i
            keys.update(_block(RETINEX_DEC, f"{p}.denoiser.decoder_layers.{i}", c=c))
            for j in range(num_blocks[1 - i]):
                keys.update(_block(IGAB_PAIR, f"{p}.denoiser.decoder_layers.{i}.2.blocks.{j}", c=c // 2, m=c // 2 // f))
    return keys


# ------------------------------------------------------------------------------------------------------ tests
def _ours(cls, **kw):
    with torch.device("meta"):
        net = cls(**kw)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _diff(ours: dict, want: dict) -> str:
    missing, extra = sorted(set(want) - set(ours)), sorted(set(ours) - set(want))
    wrong = sorted(k for k in set(want) & set(ours) if want[k] != ours[k])
    return f"missing {missing[:5]}, unexpected {extra[:5]}, wrong shapes {[(k, ours[k], want[k]) for k in wrong[:5]]}"


@pytest.mark.parametrize("name", list(NAFNET_PUBLISHED))
def test_nafnet_published(name):
    cls, cfg, n_params = NAFNET_PUBLISHED[name]
    want, ours = expected_nafnet(**cfg), _ours(cls, **cfg)
    assert ours == want, _diff(ours, want)
    assert sum(torch.Size(s).numel() for s in want.values()) == n_params


@pytest.mark.parametrize("task", list(RESTORMER_PUBLISHED))
def test_restormer_published(task):
    cfg = RESTORMER_PUBLISHED[task]
    want, ours = expected_restormer(**cfg), _ours(Restormer, **cfg)
    assert ours == want, _diff(ours, want)


def test_restormer_parameter_count_matches_the_paper():
    total = sum(torch.Size(s).numel() for s in expected_restormer().values())
    assert round(total / 1e6, 2) == 26.13  # Restormer paper: 26.13 M parameters


def test_retinexformer_published():
    want, ours = expected_retinexformer(), _ours(Retinexformer)  # defaults = every official option file
    assert ours == want, _diff(ours, want)
    assert round(sum(torch.Size(s).numel() for s in want.values()) / 1e6, 2) == 1.61  # paper: 1.61 M


def test_retinexformer_other_stage_counts():
    cfg = dict(n_feat=8, stage=3, num_blocks=[1, 1, 1])
    want, ours = expected_retinexformer(**cfg), _ours(Retinexformer, **cfg)
    assert ours == want, _diff(ours, want)


@pytest.mark.parametrize("cls, cfg, expected", [
    (NAFNetLocal, dict(width=8, enc_blk_nums=[1, 2], middle_blk_num=2, dec_blk_nums=[1, 1]), expected_nafnet),
    (Restormer, dict(dim=8, num_blocks=[1, 1, 2, 1], num_refinement_blocks=1, heads=[1, 2, 2, 4]),
     expected_restormer),
    (Retinexformer, dict(n_feat=8, num_blocks=[1, 2, 1]), expected_retinexformer),
])
def test_official_style_checkpoint_loads_strictly(tmp_path, cls, cfg, expected):
    # a checkpoint laid out as the official ones: {"params": {key: tensor}} saved with torch.save
    g = torch.Generator().manual_seed(0)
    params = {k: torch.randn(s, generator=g) for k, s in expected(**cfg).items()}
    path = tmp_path / "official.pth"
    torch.save({"params": params}, path)
    net = cls(**cfg)
    net.load_state_dict(torch.load(path, weights_only=True)["params"], strict=True)
    for k, v in net.state_dict().items():
        assert torch.equal(v, params[k]), k
    assert net(torch.rand(1, 3, 9, 10)).shape == (1, 3, 9, 10)

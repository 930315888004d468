"""Helpers and fixtures for the BasicSR adapter tests: a tiny paired dataset, a prior cache holding a simulated
prior for every input, option dicts and files, and a capture of BasicSR's log."""
from __future__ import annotations

import copy
import logging
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml

import basicsr_plugins  # noqa: F401  (torchvision alias before basicsr)
from basicsr_plugins import archs, datasets, model, prior_arch  # noqa: F401  (registration)

SET = "toy-sim"
ECHO = "toy-echo"  # prior == input
CONF = "toy-conf"  # prior == input, confidence == the input's red channel / 255
ZERO = "toy-zero"  # the simulated prior, confidence 0 everywhere (trusted nowhere)
SIZE = 40  # px
HOST = {"type": "G4PNAFNet", "img_channel": 3, "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1],
        "dec_blk_nums": [1]}


def _blur_shift(img: np.ndarray) -> np.ndarray:
    """A simulated prior: the ground truth slightly blurred, shifted by one pixel and tinted."""
    f = img.astype(np.float32)
    f = (f + np.roll(f, 1, 0) + np.roll(f, 1, 1) + np.roll(f, (1, 1), (0, 1))) / 4
    f = np.roll(f, 1, axis=1) * np.array([1.0, 0.95, 0.9], np.float32)
    return np.clip(f, 0, 255).astype(np.uint8)


def fill_cache(cache, lq_dir: Path, gt_dir: Path, set_name: str = SET, *, echo: bool = False,
               confidence: str | None = None) -> None:
    """Register ``set_name`` and put a prior for every input: the blurred / shifted gt, or (``echo``) the input
    itself (so a correctly transformed prior equals ``lq`` pixel for pixel). ``confidence``: None (stored without
    one, as caches made before confidence maps), ``"red"`` (the input's red channel / 255, so a correctly moved
    confidence equals ``lq[0]``) or ``"zeros"``."""
    from gpt4o_prior.cache import PriorSet, request_key, sha256_bytes

    cache.register_set(PriorSet(name=set_name, provider="simulated", model=None, label="simulated",
                                prompt_id=None, prompt_version=None, prompt_text=None, params={"echo": echo}))
    for lq_path in sorted(lq_dir.glob("*.png")):
        data = lq_path.read_bytes()
        sha = sha256_bytes(data)
        prior = _read_rgb(lq_path) if echo else _blur_shift(_read_rgb(gt_dir / lq_path.name))
        key = request_key(provider="simulated", model=None, prompt_text=None, prompt_version=None,
                          params={"echo": echo, "set": set_name}, input_sha256=sha)
        conf = None
        if confidence == "red":
            conf = _read_rgb(lq_path)[..., 0].astype(np.float32) / 255.0
        elif confidence == "zeros":
            conf = np.zeros(prior.shape[:2], np.float32)
        cache.put(key, _png_bytes(prior), meta={"provider": "simulated"}, aligned=prior, confidence=conf,
                  set_name=set_name, source_sha256=sha, source_name=lq_path.name)


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].copy()


def _png_bytes(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    assert ok
    return buf.tobytes()


def _write_split(root: Path, split: str, n: int, seed: int) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for i in range(n):
        gt = np.stack([(xx * (3 + i) + yy * 2) % 256, (yy * (5 + i)) % 256, (xx + yy * (1 + i)) % 256], -1)
        gt = gt.astype(np.uint8)
        lq = np.clip(gt * 0.6 + 70 + rng.normal(0, 4, gt.shape), 0, 255).astype(np.uint8)  # "hazy"
        for sub, img in (("gt", gt), ("lq", lq)):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / split / sub / f"img{i}.png"), np.ascontiguousarray(img[..., ::-1]))


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A tiny dataset (4 train, 2 val 40x40 pairs) and a cache whose sets (SET, ECHO, CONF, ZERO) cover every
    input."""
    from gpt4o_prior.cache import PriorCache

    root = tmp_path_factory.mktemp("toy")
    _write_split(root / "data", "train", 4, 0)
    _write_split(root / "data", "val", 2, 1)
    cache = PriorCache(root / "priors")
    for split in ("train", "val"):
        fill_cache(cache, root / "data" / split / "lq", root / "data" / split / "gt")
        fill_cache(cache, root / "data" / split / "lq", root / "data" / split / "gt", ECHO, echo=True)
        fill_cache(cache, root / "data" / split / "lq", root / "data" / split / "gt", CONF, echo=True,
                   confidence="red")
        fill_cache(cache, root / "data" / split / "lq", root / "data" / split / "gt", ZERO, confidence="zeros")
    return root


def base_opt(toy: Path, name: str, *, prior: bool = True, total_iter: int = 4) -> dict:
    """A tiny, complete BasicSR training option dict (SRModel, PairedImageDataset) with the one prior line."""
    data = toy / "data"
    opt = {
        "name": name, "model_type": "SRModel", "scale": 1, "num_gpu": 0, "manual_seed": 0,
        "datasets": {
            "train": {"name": "toy_train", "type": "PairedImageDataset", "dataroot_gt": str(data / "train/gt"),
                      "dataroot_lq": str(data / "train/lq"), "filename_tmpl": "{}", "io_backend": {"type": "disk"},
                      "gt_size": 32, "use_hflip": True, "use_rot": True, "num_worker_per_gpu": 0,
                      "batch_size_per_gpu": 2, "dataset_enlarge_ratio": 1, "prefetch_mode": None},
            "val": {"name": "toy_val", "type": "PairedImageDataset", "dataroot_gt": str(data / "val/gt"),
                    "dataroot_lq": str(data / "val/lq"), "io_backend": {"type": "disk"}},
        },
        "network_g": copy.deepcopy(HOST),
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {"ema_decay": 0.9, "optim_g": {"type": "Adam", "lr": 1e-3, "weight_decay": 0, "betas": [0.9, 0.99]},
                  "scheduler": {"type": "MultiStepLR", "milestones": [100], "gamma": 0.5},
                  "total_iter": total_iter, "warmup_iter": -1,
                  "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"}},
        "val": {"val_freq": 2, "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 0, "test_y_channel": False}}},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 2, "use_tb_logger": False,
                   "wandb": {"project": None, "resume_id": None}},
    }
    if prior:
        opt["prior"] = {"cache": str(toy / "priors"), "set": SET}
    return opt


def write_opt(opt: dict, folder: Path, filename: str | None = None) -> Path:
    path = Path(folder) / (filename or f"{opt['name']}.yml")
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


class LogCapture(logging.Handler):
    """Collects the messages of BasicSR's 'basicsr' logger (which does not propagate to pytest's caplog)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
def basicsr_log():
    logger = logging.getLogger("basicsr")
    handler = LogCapture()
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

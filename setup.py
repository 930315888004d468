"""gpt4o-prior: GPT-image priors as an extra input branch for image-restoration networks."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / "gpt4o_prior" / "version.py").read_text(), version)

CORE = ["torch>=2.1", "einops>=0.7", "numpy>=1.24", "pillow>=9.5", "timm>=0.9", "openai>=1.40", "tqdm>=4.60",
        "opencv-python>=4.7", "torchvision>=0.16"]
# opencv: registration and dense alignment (align.py, dense_align.py, imported lazily);
# torchvision: ops.deform_conv2d of the `deformable` fusion kind
BASICSR = ["basicsr==1.4.2", "opencv-python>=4.7"]
# MMagic 1.2.0 pins mmcv<2.2; mmcv-lite has no compiled ops (see mmagic_plugins/compat.py).
# Install mmagic itself with --no-deps (README, Makefile): its full tree pulls mediapipe and numba.
MMAGIC = ["mmengine==0.10.7", "mmcv-lite==2.1.0", "mmagic==1.2.0", "diffusers==0.28.2",
          "huggingface_hub==0.25.2", "transformers==4.46.3"]
# spandrel: architectures written by others, detected from official checkpoints (gpt4o_prior.archs.zoo)
SPANDREL = ["spandrel==0.4.2", "spandrel-extra-arches==0.2.0", "safetensors>=0.4"]
DEV = ["pytest>=8", "pytest-timeout>=2.2", "opencv-python>=4.7", "pyyaml>=6"]

setup(
    name="gpt4o-prior",
    version=version["__version__"],
    description="Plug GPT-image restorations into BasicSR and MMagic networks as a prior branch",
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["gpt4o_prior*", "basicsr_plugins*", "mmagic_plugins*"]),
    include_package_data=True,
    package_data={"gpt4o_prior": ["data/images/*.png", "data/images/*.md", "data/images/*.txt"]},
    install_requires=CORE,
    extras_require={
        "basicsr": BASICSR,
        "mmagic": MMAGIC,
        "spandrel": SPANDREL,
        "dev": DEV,
        "all": BASICSR + MMAGIC + SPANDREL + DEV,
    },
    entry_points={"console_scripts": ["gpt4o-prior = gpt4o_prior.cli:main"],
                  # adapter verbs of the gpt4o-prior command (gpt4o_prior.commands): loaded only when asked for
                  "gpt4o_prior.commands": ["demo = basicsr_plugins.commands:DEMO",
                                           "restore = basicsr_plugins.commands:RESTORE"]},
    license="Apache-2.0",
    classifiers=["Programming Language :: Python :: 3", "Topic :: Scientific/Engineering :: Image Processing"],
)

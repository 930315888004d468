#!/usr/bin/env bash
# Install everything gpt4o-prior needs into a virtual environment, following ../shared/ENV.md.
# Usage: scripts/install.sh VENV_DIR   (TORCH_SPEC overrides the torch/torchvision pair)
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
torch_spec=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}

[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off)

# 1. torch + torchvision, a matched pair (overridable for other machines).
# shellcheck disable=SC2086
"${pip[@]}" $torch_spec
# 2. BasicSR 1.4.2 builds from its sdist; build it against the torch above (needs setuptools >= 77).
"${pip[@]}" "setuptools>=77" wheel
"${pip[@]}" --no-build-isolation -r requirements/basicsr.txt
# 3. MMEngine / mmcv-lite / the part of MMagic's tree the restoration models import.
"${pip[@]}" -r requirements/mmagic-deps.txt
"${pip[@]}" --no-deps -r requirements/mmagic.txt
# 4. this package, editable, with the test tools and the spandrel architectures (a test dependency).
"${pip[@]}" -e ".[dev,spandrel]"

"""One entry point for the synthetic degradations: ``degrade(img, task=..., seed=...)``.

* ``dehaze``: atmospheric scattering with a depth proxy, :func:`gpt4o_prior.data.haze.add_haze`;
* ``derain``: several layers of motion-blurred rain streaks, :func:`gpt4o_prior.data.rain.add_rain`;
* ``lowlight``: exposure / gamma darkening, Poisson-Gaussian noise, colour cast,
  :func:`gpt4o_prior.data.lowlight.darken`.

The task names are those of the restoration task (what the network learns to undo), matching the prompt ids in
:mod:`gpt4o_prior.prompts` and the option folders.

Example:
    >>> img = np.full((16, 16, 3), 128, np.uint8)
    >>> sorted(TASKS)
    ['dehaze', 'derain', 'lowlight']
    >>> bool(degrade(img, task="lowlight", seed=0).mean() < 128)
    True
"""
from __future__ import annotations

import numpy as np

from .haze import add_haze
from .lowlight import darken
from .rain import add_rain

__all__ = ["TASKS", "degrade"]

#: task name -> function producing the degraded image from a clean one
TASKS = {"dehaze": add_haze, "derain": add_rain, "lowlight": darken}


def degrade(img: np.ndarray, task: str, *, seed: int = 0, return_params: bool = False, **params):
    """Degrade a clean (H, W, 3) uint8 RGB image for ``task``, deterministically for a given ``seed``.

    Args:
        img: clean image.
        task: ``"dehaze"``, ``"derain"`` or ``"lowlight"``.
        seed: seed for the random parameters and noise.
        return_params: also return a JSON-able dict of what was done.
        **params: fixed values for the task's parameters (see its function), e.g. ``beta=1.5`` for dehaze.

    Returns:
        The degraded (H, W, 3) uint8 image, or ``(image, params)`` with ``return_params=True``.

    Raises:
        ValueError: unknown task.

    Example:
        >>> degrade(np.zeros((8, 8, 3), np.uint8), task="fog")
        Traceback (most recent call last):
        ...
        ValueError: unknown task 'fog': choose one of 'dehaze', 'derain', 'lowlight'
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: choose one of " + ", ".join(repr(t) for t in TASKS))
    return TASKS[task](img, seed=seed, return_params=return_params, **params)

"""``PriorRunner``: an MMEngine ``Runner`` that reads the config's ``prior`` setting and adds the prior branch.

With it, an MMagic restoration config gains the prior in two lines::

    runner_type = 'mmagic_plugins.PriorRunner'
    prior = dict(cache='priors/', set='ohaze-gpt')

``from_cfg`` applies :func:`mmagic_plugins.config.apply_prior` (model to ``PriorEditModel``, pipelines that load
and carry the prior) and builds the ordinary runner from the result; the written-out config is what the runner
saves in its work dir. Before a dataloader is used, every input of its dataset is checked against the prior cache
(hashes only), so a missing prior stops the run at once, naming the files (``prior.check=False`` skips this).

The scoped name ``'mmagic_plugins.PriorRunner'`` makes MMEngine import this plugin itself; ``'PriorRunner'`` also
works once the plugin is imported (``custom_imports``) and the default scope is ``mmagic``. A launcher has to
honour ``runner_type`` (``python -m mmagic_plugins.train``, MMEngine's convention); MMagic 1.2.0's
``tools/train.py`` always builds the plain ``Runner``.
"""
from __future__ import annotations

from typing import Any

from mmengine.runner import Runner

from gpt4o_prior.cache.errors import PriorMissingError as PriorsMissingError  # the one missing-prior error
from gpt4o_prior.cache.missing import missing_priors_error

from . import model, save_outputs, transforms  # noqa: F401  (registration: the written-out configs use them)
from .checkpoint import mmengine_safe_globals, plain_message_hub_state, restore_message_hub_state
from .config import apply_prior, check_prior_settings
from .registry import MMAGIC_RUNNERS, RUNNERS, register

__all__ = ["PriorRunner", "PriorsMissingError", "check_dataset_priors"]


def _load_prior_steps(dataset: Any) -> list:
    from .transforms import LoadPrior

    pipeline = getattr(dataset, "pipeline", None)
    steps = getattr(pipeline, "transforms", None) or []
    return [t for t in steps if isinstance(t, LoadPrior)]


def check_dataset_priors(dataset: Any, *, where: str = "dataset") -> int:
    """Check that every input of an MMagic dataset has a prior, for each ``LoadPrior(fallback='error')`` step.

    Args:
        dataset: a built dataset (``BasicImageDataset`` or a wrapper with ``.dataset`` / ``.datasets``).
        where: the dataset's name, for the error message.

    Returns:
        The number of inputs checked.

    Raises:
        PriorsMissingError: (``gpt4o_prior.cache.PriorMissingError``) inputs without a prior, the first few listed,
            with the set name and the command that fills the cache.
    """
    inner = [getattr(dataset, "dataset", None)] + list(getattr(dataset, "datasets", None) or [])
    checked = sum(check_dataset_priors(d, where=where) for d in inner if d is not None)
    for step in _load_prior_steps(dataset):
        if step.fallback != "error":
            continue
        if hasattr(dataset, "full_init"):
            dataset.full_init()
        paths = [dataset.get_data_info(i).get(f"{step.key}_path") for i in range(len(dataset))]
        paths = [p for p in paths if p]
        missing = step.missing(paths)
        checked += len(paths)
        if missing:
            raise missing_priors_error(missing, total=len(paths), set_name=step.set_name, cache=step.cache,
                                       where=where, advice="or set prior.fallback='input' (or 'zeros') to run with "
                                       "a stand-in.")
    return checked


@register(RUNNERS)
@register(MMAGIC_RUNNERS)
class PriorRunner(Runner):
    """The MMEngine ``Runner``, built from a config with its ``prior`` setting written out (see the module).

    Example:
        >>> from mmengine.registry import RUNNERS
        >>> RUNNERS.get('mmagic_plugins.PriorRunner') is PriorRunner
        True
    """

    @classmethod
    def from_cfg(cls, cfg: Any) -> "PriorRunner":
        """Build the runner from ``apply_prior(cfg)``.

        Args:
            cfg: the config, with ``prior = dict(cache=..., set=...)``.

        Returns:
            The runner.

        Raises:
            mmagic_plugins.config.PriorConfigError: no or a bad ``prior`` setting, or a model it cannot wrap.
        """
        cfg = apply_prior(cfg)
        runner = super().from_cfg(cfg)
        runner._prior_check = bool(check_prior_settings(cfg["prior"]).get("check", True))
        return runner

    def load_checkpoint(self, filename: str, map_location: Any = "cpu", strict: bool = False,
                        revise_keys: list = [(r"^module.", "")]):  # noqa: B006  (Runner's own default)
        """``Runner.load_checkpoint`` (used by ``load_from`` and ``resume``), weights-only.

        ``torch.load`` keeps its ``weights_only=True`` default; NumPy data in the metadata is allowed
        (:func:`mmagic_plugins.checkpoint.mmengine_safe_globals`), and the message hub's history, saved as plain
        lists by :meth:`save_checkpoint`, is rebuilt.
        """
        with mmengine_safe_globals(filename):
            checkpoint = super().load_checkpoint(filename, map_location=map_location, strict=strict,
                                                 revise_keys=revise_keys)
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get("message_hub"), dict):
            checkpoint["message_hub"] = restore_message_hub_state(checkpoint["message_hub"])
        return checkpoint

    def save_checkpoint(self, *args, **kwargs) -> None:
        """``Runner.save_checkpoint``, with the message hub's history saved as plain lists (weights-only loadable;
        :meth:`load_checkpoint` rebuilds it)."""
        hub = self.message_hub
        original = hub.state_dict
        hub.state_dict = lambda: plain_message_hub_state(original())  # this runner's hub, for this call only
        try:
            return super().save_checkpoint(*args, **kwargs)
        finally:
            del hub.state_dict

    def build_dataloader(self, dataloader: Any, seed: int | None = None, diff_rank_seed: bool = False):
        """``Runner.build_dataloader``, then the prior check of its dataset (see :func:`check_dataset_priors`)."""
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if getattr(self, "_prior_check", True):
            check_dataset_priors(loader.dataset, where=type(loader.dataset).__name__)
        return loader

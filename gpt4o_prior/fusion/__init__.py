"""Fusion blocks: how prior features enter a host network's features.

Each block is a ``nn.Module`` with ``forward(feat, *, prior)``, the identity at initialisation. Build one with
:func:`create_fusion` from a registered name (:func:`list_fusions`), a class or a callable.
"""
from .registry import create_fusion, get_fusion_class, list_fusions, register_fusion
from .base import FusionBlock
from .resize import resize_prior
from .zero import zero_module
from .sft import SFTFusion, sft_modulate
from .film import FiLMFusion, pool_mean_std
from .concat import ConcatFusion, concat_project
from .zero_add import ZeroAddFusion
from .channel_attention import ChannelAttentionFusion, channel_cross_attention
from .cross_attention import CrossAttentionFusion, default_token_size, halo_cross_attention
from .input_concat import InputConcatAdapter, widen_conv

__all__ = [
    "create_fusion", "get_fusion_class", "list_fusions", "register_fusion",
    "FusionBlock", "resize_prior", "zero_module",
    "SFTFusion", "sft_modulate",
    "FiLMFusion", "pool_mean_std",
    "ConcatFusion", "concat_project",
    "ZeroAddFusion",
    "ChannelAttentionFusion", "channel_cross_attention",
    "CrossAttentionFusion", "default_token_size", "halo_cross_attention",
    "InputConcatAdapter", "widen_conv",
]

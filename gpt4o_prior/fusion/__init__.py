"""Fusion blocks: how prior features enter a host network's features.

Each block is a ``nn.Module`` with ``forward(feat, *, prior, confidence=None)``, the identity at initialisation;
``confidence`` (B, 1, h, w) in [0, 1] gates its update per pixel (:func:`gate_update`). Build one with
:func:`create_fusion` from a registered name (:func:`list_fusions`), a class or a callable.
"""
from .registry import create_fusion, get_fusion_class, list_fusions, register_fusion
from .base import FusionBlock
from .resize import resize_prior
from .confidence import check_confidence, prepare_confidence
from .gate import DEFAULT_CONFIDENCE_POWER, add_gated, gate_update, sharpen_confidence
from .zero import zero_module
from .sft import SFTFusion, sft_modulate
from .film import FiLMFusion, pool_mean_std
from .concat import ConcatFusion, concat_project
from .zero_add import ZeroAddFusion
from .channel_attention import ChannelAttentionFusion, channel_cross_attention
from .cross_attention import CrossAttentionFusion, default_token_size, halo_cross_attention
from .input_concat import InputConcatAdapter, widen_conv
from .deformable import DeformableFusion, deformable_offsets, deformable_resample

__all__ = [
    "create_fusion", "get_fusion_class", "list_fusions", "register_fusion",
    "FusionBlock", "resize_prior", "zero_module",
    "check_confidence", "prepare_confidence", "gate_update", "add_gated", "sharpen_confidence", "DEFAULT_CONFIDENCE_POWER",
    "SFTFusion", "sft_modulate",
    "FiLMFusion", "pool_mean_std",
    "ConcatFusion", "concat_project",
    "ZeroAddFusion",
    "ChannelAttentionFusion", "channel_cross_attention",
    "CrossAttentionFusion", "default_token_size", "halo_cross_attention",
    "InputConcatAdapter", "widen_conv",
    "DeformableFusion", "deformable_offsets", "deformable_resample",
]

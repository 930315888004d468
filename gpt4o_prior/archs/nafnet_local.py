"""NAFNetLocal: NAFNet with local instead of global channel-attention pooling, for full-size test images.

Same parameters as :class:`~gpt4o_prior.archs.nafnet.NAFNet` (official ``NAFNetLocal`` checkpoints are plain NAFNet
weights); only each block's ``sca.0`` pooling changes to a :class:`~gpt4o_prior.archs.local_pool.LocalAvgPool2d`
whose window is 1.5 times the extent a feature map of that stage had during training (the official rule).
On images no larger than the training crop this equals NAFNet exactly.
"""
from __future__ import annotations

from typing import Sequence

from .local_pool import LocalAvgPool2d
from .nafnet import NAFNet
from .padding import pad_amount

__all__ = ["NAFNetLocal"]


class NAFNetLocal(NAFNet):
    """NAFNet whose channel attention pools over a local window (test-time local converter).

    Args:
        img_channel, width, middle_blk_num, enc_blk_nums, dec_blk_nums: as :class:`NAFNet`.
        train_size: the ``(N, C, H, W)`` (or ``(H, W)``) of the training crops; official default
            ``(1, 3, 256, 256)``.
        fast_imp: the official approximate strided variant; not supported (only ``False``, the official default
            and the setting of the published option files).

    The window at a stage with feature height ``h_s`` during training is ``h_s * int(1.5 * H) // H`` (likewise
    for the width), with ``h_s`` the padded training height divided by the stage's stride.

    Shape:
        - inp: ``(B, img_channel, H, W)``, any ``H, W``; output: same.

    Example:
        >>> import torch
        >>> net = NAFNetLocal(width=8, enc_blk_nums=[1], dec_blk_nums=[1], train_size=(1, 3, 16, 16))
        >>> net.encoders[0][0].sca[0]
        LocalAvgPool2d(kernel_size=(24, 24))
        >>> net(torch.rand(1, 3, 40, 33)).shape
        torch.Size([1, 3, 40, 33])
    """

    def __init__(
        self,
        img_channel: int = 3,
        width: int = 16,
        middle_blk_num: int = 1,
        enc_blk_nums: Sequence[int] = (),
        dec_blk_nums: Sequence[int] = (),
        train_size: Sequence[int] = (1, 3, 256, 256),
        fast_imp: bool = False,
    ):
        super().__init__(img_channel=img_channel, width=width, middle_blk_num=middle_blk_num,
                         enc_blk_nums=enc_blk_nums, dec_blk_nums=dec_blk_nums)
        if fast_imp:
            raise ValueError(
                "NAFNetLocal(fast_imp=True), the approximate strided pooling, is not implemented here; "
                "use fast_imp=False (the official default, used by the published option files)"
            )
        if len(train_size) not in (2, 4) or any(int(s) < 1 for s in train_size):
            raise ValueError(f"train_size must be (N, C, H, W) or (H, W) of positive ints, got {train_size}")
        th, tw = int(train_size[-2]), int(train_size[-1])
        self.train_size = tuple(int(s) for s in train_size)
        base_h, base_w = int(th * 1.5), int(tw * 1.5)
        ph, pw = th + pad_amount(th, self.padder_size), tw + pad_amount(tw, self.padder_size)

        def window(level: int) -> tuple[int, int]:
            fh, fw = ph // 2 ** level, pw // 2 ** level
            return fh * base_h // th, fw * base_w // tw

        depth = len(self.encoders)
        stages = [(stage, i) for i, stage in enumerate(self.encoders)] + [(self.middle_blks, depth)]
        stages += [(stage, depth - 1 - i) for i, stage in enumerate(self.decoders)]
        for stage, level in stages:
            for block in stage:
                block.sca[0] = LocalAvgPool2d(window(level))

# NAFNet as MMagic 1.2.0's configs/nafnet/nafnet_c64eb2248mb12db2222_8xb8-lr1e-3-400k_sidd.py builds it, at width 32
# (the width of options/basicsr/*_nafnet.yml), so both adapters train the same network; loops and the 100k-iteration
# cosine schedule: runtime.py.
model = dict(
    type='BaseEditModel',
    generator=dict(
        type='NAFNet',
        img_channels=3,
        mid_channels=32,
        enc_blk_nums=[2, 2, 4, 8],
        middle_blk_num=12,
        dec_blk_nums=[2, 2, 2, 2],
    ),
    pixel_loss=dict(type='PSNRLoss'),
    train_cfg=dict(),
    test_cfg=dict(),
    data_preprocessor=dict(
        type='DataPreprocessor',
        mean=[0.0, 0.0, 0.0],
        std=[255.0, 255.0, 255.0],
    ))

optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-3, betas=(0.9, 0.9)))

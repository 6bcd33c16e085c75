"""The light segmentation head of EfficientViT-B and -L (Cai et al., ICCV 2023)."""
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead

from mmevit.models.layers import BN, HSWISH, ConvNormAct, FusedMBConv, MBConv, ResidualBlock
from mmevit.registry import register_model


@register_model
class EfficientViTSegHead(BaseDecodeHead):
    """1x1 conv+BN on each input, bicubic upsampling to the finest input, sum, residual
    (fused) MBConvs, optional 1x1 expansion, 1x1 classifier.

    The authors feed stage 4, 3 and 2 (strides 32, 16, 8) and predict at stride 8; list them
    coarse to fine (``in_index=[3, 2, 1]``) as they do, which also fixes the order of the sum.
    B-series heads: MBConvs, Hardswish and BatchNorm (the defaults); L-series heads:
    FusedMBConvs (``middle_op='fmbconv'``), GELU with the tanh approximation
    (``act_cfg=dict(type='GELU', approximate='tanh')``) and BatchNorm eps 1e-7
    (``norm_cfg=dict(type='BN', eps=1e-7)``).

    Args:
        in_channels (list[int]): Channels of the selected backbone outputs.
        channels (int): Head width (the authors' ``head_width``); the classifier sees
            ``channels * final_expand`` when ``final_expand`` is set.
        depth (int): Residual blocks after the merge (``head_depth``). Defaults to 3.
        expand_ratio (float): Their expansion. Defaults to 4.
        final_expand (int, optional): Widen by this factor before the classifier.
        middle_op (str): The residual blocks: ``'mbconv'`` (1x1, 3x3 depthwise, 1x1) or
            ``'fmbconv'`` (3x3, 1x1). Defaults to ``'mbconv'``.
        test_resize (str, optional): How logits reach the label size in testing: resized
            once with this mode (``'bicubic'``, as the authors' evaluation does) from stride 8
            straight to the original image size; None keeps mmseg's two bilinear resizes
            (to the network input, then to the original size). Batches whose images differ
            in original size or are padded take mmseg's way. Defaults to ``'bicubic'``.
        **kwargs: :class:`mmseg.models.decode_heads.decode_head.BaseDecodeHead` arguments
            (``num_classes``, ``in_index``, ``dropout_ratio``, ``align_corners``, losses...;
            ``norm_cfg``, here ``dict(type='BN')`` by default, and ``act_cfg``, here
            ``dict(type='HSwish')``, are the norm and activation of every block).
            ``input_transform`` is always ``'multiple_select'``.
    """

    def __init__(self, in_channels: List[int], channels: int, depth: int = 3,
                 expand_ratio: float = 4, final_expand: Optional[int] = None,
                 middle_op: str = 'mbconv', test_resize: Optional[str] = 'bicubic', **kwargs):
        if middle_op not in ('mbconv', 'fmbconv'):
            raise ValueError(f"middle_op must be 'mbconv' or 'fmbconv', got {middle_op!r}")
        kwargs['input_transform'] = 'multiple_select'
        kwargs.setdefault('norm_cfg', BN)
        kwargs.setdefault('act_cfg', HSWISH)
        head_width = channels
        super().__init__(in_channels, head_width * (final_expand or 1), **kwargs)
        self.test_resize = test_resize
        layers = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.lateral_convs = nn.ModuleList(
            ConvNormAct(c, head_width, 1, norm_cfg=self.norm_cfg) for c in self.in_channels)
        block = MBConv if middle_op == 'mbconv' else FusedMBConv
        self.middle = nn.Sequential(*[
            ResidualBlock(block(head_width, head_width, expand_ratio=expand_ratio, **layers))
            for _ in range(depth)])
        self.final_expand = (ConvNormAct(head_width, self.channels, 1, **layers)
                             if final_expand else None)

    def forward(self, inputs):
        feats = self._transform_inputs(inputs)
        size = max((f.shape[2:] for f in feats), key=lambda s: s[0] * s[1])
        laterals = []
        for conv, feat in zip(self.lateral_convs, feats):
            x = conv(feat)
            if x.shape[2:] != size:
                x = F.interpolate(x.float() if x.dtype in (torch.float16, torch.bfloat16) else x,
                                  size=size, mode='bicubic', align_corners=False)
            laterals.append(x)
        merged = laterals[-1]  # the authors' sum: coarse + (middle + fine)
        for x in reversed(laterals[:-1]):
            merged = x + merged
        out = self.middle(merged)
        if self.final_expand is not None:
            out = self.final_expand(out)
        return self.cls_seg(out)

    def predict_by_feat(self, seg_logits, batch_img_metas):
        """Logits at the original image size in one resize (``test_resize``); mmseg's
        segmentor then finds nothing left to crop or resize. In an ONNX export (mmdeploy's
        with the argmax in the graph), at the input's size (mmdeploy's ``img_shape``,
        traced): the graph does not know the image's, which the export's image would fix for
        every input; mmdeploy's backend model resizes the labels to the image. (Exported
        without argmax, mmevit's deployment ends the graph before this resize:
        ``mmevit.deploy.mmdeploy_compat.segmentor_logits_before_resizing``.)"""
        if self.test_resize is None:
            return super().predict_by_feat(seg_logits, batch_img_metas)
        if torch.onnx.is_in_onnx_export():
            size = batch_img_metas[0]['img_shape'][:2]
        else:
            original = {tuple(meta['ori_shape'][:2]) for meta in batch_img_metas}
            padded = any(any(meta.get('padding_size', ())) or tuple(
                meta['img_shape'][:2]) != tuple(meta.get('pad_shape', meta['img_shape'])[:2])
                for meta in batch_img_metas)
            if len(original) != 1 or padded:
                return super().predict_by_feat(seg_logits, batch_img_metas)
            size = original.pop()
        if seg_logits.dtype in (torch.float16, torch.bfloat16):
            seg_logits = seg_logits.float()
        return F.interpolate(seg_logits, size=size, mode=self.test_resize,
                             align_corners=False if self.test_resize in (
                                 'bilinear', 'bicubic') else None)

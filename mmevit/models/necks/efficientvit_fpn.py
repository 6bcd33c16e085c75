"""FPN for backbones whose finest level is stride 16 (the EfficientViT-M detection recipe)."""
from typing import Dict, List, Optional, Tuple, Union

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.necks import FPN
from torch import Tensor

from mmevit.models.converters import (LoadsForeignLayout, convert_official_fpn_keys,
                                      is_official_fpn_layout)
from mmevit.registry import register_model

# mmdet's FPN initialisation for the convs, and for the transposed convs what the authors'
# neck gives them (mmcv's ConvModule: kaiming normal, fan_out, relu, bias 0): Xavier's
# layer='Conv2d' does not match ConvTranspose2d, which would keep PyTorch's default.
DEFAULT_INIT_CFG = [
    dict(type='Xavier', layer='Conv2d', distribution='uniform'),
    dict(type='Kaiming', layer='ConvTranspose2d', mode='fan_out', nonlinearity='relu',
         distribution='normal', bias=0),
]


@register_model
class EfficientViTFPN(LoadsForeignLayout, FPN):
    """FPN whose merged finest level is upsampled by stride-2 transposed convs.

    The backbone's stride-16/32/64 maps go through a standard FPN (laterals, top-down sum,
    3x3 output convs, extra stride-2 convs for the coarser levels). Then the merged stride-16
    lateral is upsampled ``num_extra_trans_convs`` times by a 2x2 stride-2 transposed conv, each
    result getting its own 3x3 output conv, which adds the finer levels (stride 8, then 4).
    RetinaNet uses 1 transposed conv and 1 extra conv (strides 8..128); Mask R-CNN uses 2
    transposed convs (strides 4..64). With no transposed conv it is mmdet's FPN.

    The authors' neck (microsoft/Cream ``EfficientViTFPN``) computes the same; its weights
    load as they are (:func:`mmevit.models.converters.convert_official_fpn_keys`).

    Args:
        in_channels (list[int]): Channels of each input level.
        out_channels (int): Channels of every output level.
        num_outs (int): Number of output levels, the transposed-conv levels included.
        num_extra_trans_convs (int): Finer levels added by transposed convs. Defaults to 1.
        num_top_down_only_levels (int): Coarsest input levels that only feed the top-down
            path (lateral conv, no output level). Needs ``num_outs`` to be the remaining
            input levels plus the transposed-conv levels, and no extra convs. Defaults to 0.
        init_cfg (dict | list[dict], optional): Initialisation. Defaults to
            :data:`DEFAULT_INIT_CFG`, the authors' (xavier uniform convs, kaiming normal
            transposed convs with zero bias).
        **kwargs: The other arguments of :class:`mmdet.models.necks.FPN` (``start_level``,
            ``add_extra_convs``, ``norm_cfg``, ``act_cfg``, ...).
    """

    def __init__(self, in_channels: List[int], out_channels: int, num_outs: int,
                 num_extra_trans_convs: int = 1, num_top_down_only_levels: int = 0,
                 init_cfg: Optional[Union[dict, List[dict]]] = DEFAULT_INIT_CFG, **kwargs):
        if not 0 <= num_extra_trans_convs < num_outs:
            raise ValueError(f'num_extra_trans_convs must be within [0, num_outs), got '
                             f'{num_extra_trans_convs} with num_outs={num_outs}')
        if num_top_down_only_levels:
            used_levels = len(in_channels) - kwargs.get('start_level', 0)
            kept_levels = num_outs - num_extra_trans_convs
            if (kwargs.get('add_extra_convs') or kwargs.get('end_level', -1) != -1
                    or not 0 < num_top_down_only_levels < used_levels
                    or kept_levels != used_levels - num_top_down_only_levels):
                raise ValueError(
                    f'num_top_down_only_levels={num_top_down_only_levels} needs no extra '
                    f'convs, no end_level and num_outs = the {used_levels} input levels less '
                    f'those plus {num_extra_trans_convs} transposed-conv level(s), got '
                    f'num_outs={num_outs}')
        super().__init__(in_channels, out_channels,
                         num_outs - num_extra_trans_convs + num_top_down_only_levels,
                         init_cfg=init_cfg, **kwargs)
        # their output convs would get no gradient (an error under DDP): not built
        del self.fpn_convs[len(self.fpn_convs) - num_top_down_only_levels:]
        self.num_outs -= num_top_down_only_levels
        self.num_top_down_only_levels = num_top_down_only_levels
        self.num_extra_trans_convs = num_extra_trans_convs
        self.trans_convs = nn.ModuleList()
        self.trans_fpn_convs = nn.ModuleList()
        for _ in range(num_extra_trans_convs):
            self.trans_convs.append(nn.ConvTranspose2d(out_channels, out_channels, 2, stride=2))
            self.trans_fpn_convs.append(ConvModule(
                out_channels, out_channels, 3, padding=1, conv_cfg=kwargs.get('conv_cfg'),
                norm_cfg=kwargs.get('norm_cfg'), act_cfg=kwargs.get('act_cfg'), inplace=False))

    def foreign_layout(self, state_dict: Dict[str, Tensor]) -> Optional[str]:
        if is_official_fpn_layout(state_dict):
            return "the authors' EfficientViTFPN layout (microsoft/Cream)"
        return None

    def convert_foreign_layout(self, state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
        return convert_official_fpn_keys(state_dict, self.num_extra_trans_convs)

    def forward(self, inputs: Tuple[Tensor]) -> tuple:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects {len(self.in_channels)} inputs, '
                             f'got {len(inputs)}')
        laterals = [conv(inputs[i + self.start_level])
                    for i, conv in enumerate(self.lateral_convs)]
        for i in range(len(laterals) - 1, 0, -1):
            size = {} if 'scale_factor' in self.upsample_cfg else {
                'size': laterals[i - 1].shape[2:]}
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], **size, **self.upsample_cfg)
        outs = [self.fpn_convs[i](laterals[i])
                for i in range(len(laterals) - self.num_top_down_only_levels)]
        if self.num_outs > len(outs):
            if not self.add_extra_convs:
                for _ in range(self.num_outs - len(outs)):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                sources = {'on_input': inputs[self.backbone_end_level - 1],
                           'on_lateral': laterals[-1], 'on_output': outs[-1]}
                outs.append(self.fpn_convs[len(laterals)](sources[self.add_extra_convs]))
                for i in range(len(laterals) + 1, self.num_outs):
                    source = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](source))
        finer = []
        x = laterals[0]
        for trans_conv, fpn_conv in zip(self.trans_convs, self.trans_fpn_convs):
            x = trans_conv(x)
            finer.insert(0, fpn_conv(x))
        return tuple(finer + outs)

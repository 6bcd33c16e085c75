"""tools/model_converters/convert_checkpoint.py: backbones and the authors' whole
segmentation models into mmevit checkpoints."""
import pytest
import torch

from conftest import (check, config_model, deterministic_checkpoint, load_reference,
                      reference_input, relative_error, run_tool)
from mmevit.checkpoint import safe_torch_load
from mmevit.models import build_backbone

TOOL = 'model_converters/convert_checkpoint.py'


@pytest.mark.parametrize('arch', ['m4', 'b1'])
def test_convert_backbone_checkpoint(arch, official_checkpoint, tmp_path):
    src = official_checkpoint(f'efficientvit_{arch}')
    dst = str(tmp_path / 'converted' / f'{arch}.pth')
    check(run_tool(TOOL, src, dst, '--arch', arch))
    models = [build_backbone(arch, init_cfg=dict(type='Pretrained', checkpoint=path))
              for path in (src, dst)]
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        outs = [m.init_weights() or m.eval()(x) for m in models]
    for a, b in zip(*outs):
        assert torch.equal(a, b)


def test_convert_refuses_wrong_arch_and_writes_nothing(official_checkpoint, tmp_path):
    dst = tmp_path / 'out.pth'
    proc = run_tool(TOOL, official_checkpoint('efficientvit_m0'), str(dst), '--arch', 'm4')
    assert proc.returncode != 0
    assert "shape mismatch at 'patch_embed.conv1.conv.weight'" in proc.stderr
    assert not dst.exists() and not (tmp_path / 'out.pth.part').exists()


def test_convert_official_segmentation_model_and_evaluate(tmp_path):
    ref = load_reference('efficientvit_seg_b0_cityscapes')
    src, dst = str(tmp_path / 'official.pt'), str(tmp_path / 'mmseg.pth')
    torch.save({'state_dict': deterministic_checkpoint(ref)}, src)
    check(run_tool(TOOL, src, dst, '--segmentor', 'configs/efficientvit_seg_b0_cityscapes.py'))
    model = config_model('efficientvit_seg_b0_cityscapes.py')
    model.load_state_dict(safe_torch_load(dst)['state_dict'])
    with torch.no_grad():
        logits = model.decode_head(model.extract_feat(reference_input('1x3x256x320')))
    assert relative_error(logits, ref['outputs']['1x3x256x320'][0]) < 1e-4

"""What every EfficientViT backbone shares: the arch lookup, any input size, timm's
feature_info, frozen stages and norm_eval, gradient checkpointing."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmevit.models import (ARCHS, EfficientViTB, EfficientViTL, EfficientViTM,
                           backbone_class, build_backbone)


def test_one_lookup_serves_every_arch():
    assert ARCHS == ('m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'b0', 'b1', 'b2', 'b3', 'l1', 'l2')
    for arch in ARCHS:
        cls = {'m': EfficientViTM, 'b': EfficientViTB, 'l': EfficientViTL}[arch[0]]
        assert backbone_class(arch) is cls and backbone_class(arch.upper()) is cls
        assert type(build_backbone(arch, out_indices=(0, ))) is cls
    with pytest.raises(ValueError, match=r"Unknown arch 'x1'; expected one of \['m0'"):
        backbone_class('x1')


@pytest.mark.parametrize('arch', ARCHS)
def test_any_input_size_and_feature_info(arch):
    model = build_backbone(arch).eval()
    # timm's feature_info: channels, stride and module of every stage's output
    assert [info['module'] for info in model.feature_info] == [
        f'stages.{i}' for i in range(len(model.stages))]
    for info, stage in zip(model.feature_info, model.stages):
        assert model.get_submodule(info['module']) is stage
    for h, w in ((1, 1), (31, 31), (7, 4000), (97, 203), (224, 224)):
        with torch.no_grad():
            outs = model(torch.randn(1, 3, h, w))
        assert len(outs) == len(model.feature_info)
        for out, info in zip(outs, model.feature_info):
            stride = info['reduction']
            assert out.shape == (1, info['num_chs'], -(-h // stride), -(-w // stride)), (h, w)
            assert torch.isfinite(out).all(), (arch, h, w)


@pytest.mark.parametrize('arch', ['m0', 'b0', 'l1'])
def test_frozen_stages_and_norm_eval(arch):
    model = build_backbone(arch, frozen_stages=2, norm_eval=True).train()
    for module in (model.stem_module, model.stages[0], model.stages[1]):
        assert not module.training and not any(p.requires_grad for p in module.parameters())
    assert model.stages[2].training
    assert all(p.requires_grad for p in model.stages[2].parameters())
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(not m.training for m in norms)
    running = [m.running_mean.clone() for m in norms]
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(r, m.running_mean) for r, m in zip(running, norms))

    model = build_backbone(arch, frozen_stages=-1, norm_eval=False).train()
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize('arch', ['m4', 'b1', 'l1'])
def test_with_cp_training_matches_and_backpropagates(arch, official_checkpoint):
    init_cfg = dict(type='Pretrained', checkpoint=official_checkpoint(f'efficientvit_{arch}'))
    plain = build_backbone(arch, init_cfg=init_cfg)
    ckpt = build_backbone(arch, init_cfg=init_cfg, with_cp=True)
    for model in (plain, ckpt):
        model.init_weights()
        model.train()
    x = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    outs_plain, outs_cp = plain(x), ckpt(x)
    for a, b in zip(outs_plain, outs_cp):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)
    sum(o.float().pow(2).mean() for o in outs_plain).backward()
    sum(o.float().pow(2).mean() for o in outs_cp).backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        assert q.grad is not None, f'no gradient reached {name} under with_cp'
        assert torch.allclose(p.grad, q.grad, rtol=1e-3, atol=1e-6), name


def test_init_cfg_as_mmengine_takes_it(official_checkpoint, tmp_path):
    # a list (Pretrained last, whatever its place), and Pretrained with a prefix
    path = official_checkpoint('efficientvit_m0')
    expected = build_backbone('m0', init_cfg=dict(type='Pretrained', checkpoint=path))
    expected.init_weights()
    listed = build_backbone('m0', init_cfg=[
        dict(type='Pretrained', checkpoint=path),
        dict(type='Constant', layer='Conv2d', val=0.5)])  # then overwritten by the weights
    listed.init_weights()
    detector = str(tmp_path / 'detector.pth')
    torch.save({'state_dict': {**{f'backbone.{k}': v for k, v in
                                  expected.state_dict().items()},
                               'neck.conv.weight': torch.zeros(1)}}, detector)
    prefixed = build_backbone('m0', init_cfg=dict(type='Pretrained', checkpoint=detector,
                                                  prefix='backbone.'))
    prefixed.init_weights()
    for model in (listed, prefixed):
        for (name, a), b in zip(model.state_dict().items(), expected.state_dict().values()):
            assert torch.equal(a, b), name
    wrong = build_backbone('m0', init_cfg=dict(type='Pretrained', checkpoint=detector,
                                               prefix='model.backbone.'))
    with pytest.raises(ValueError, match="no key starts with the init_cfg prefix "
                                         "'model.backbone.'"):
        wrong.init_weights()
    # other initialisers alone still reach mmengine
    constant = build_backbone('m0', init_cfg=[dict(type='Constant', layer='Conv2d', val=0.5)])
    constant.init_weights()
    assert (constant.patch_embed.conv1.conv.weight == 0.5).all()


@pytest.mark.parametrize('arch', ['m4', 'b1', 'l1'])
def test_norm_and_act_configs(arch):
    default = build_backbone(arch)
    synced = build_backbone(arch, norm_cfg=dict(type='SyncBN'))
    assert default.state_dict().keys() == synced.state_dict().keys()  # checkpoints fit both
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
    assert not any(type(m) is torch.nn.BatchNorm2d for m in synced.modules())
    relu = build_backbone(arch, act_cfg=dict(type='ReLU6'))
    assert any(isinstance(m, torch.nn.ReLU6) for m in relu.modules())
    assert not any(isinstance(m, (torch.nn.Hardswish, torch.nn.GELU)) for m in relu.modules())

"""End-to-end latency (pre-processing to detections) of detectors exported through mmdeploy and
run in onnxruntime, against PyTorch eager and the fast path of the same weights: one image,
two threads, ``test_step`` of each (the onnxruntime model through mmdeploy's backend model,
which shares the data preprocessor); ratio: speed over the eager model. Needs mmdeploy: run
``tools/benchmark.py`` from ``.venv-deploy`` (``make deploy-venv``)."""
import copy
import importlib.util
import os
import os.path as osp
import tempfile
from typing import List

import torch

from mmevit.benchmark.base import Progress, Setting, Table, join_ms, ratio, round_robin
from mmevit.benchmark.subjects import DETECTOR_NAMES, REPO_ROOT, detector_config
from mmevit.deploy import deployed_copy
from mmevit.models import build_model
from mmevit.testing import detection_batch

DEPLOY_CONFIG = osp.join(REPO_ROOT, 'configs', 'deploy', 'detection_onnxruntime_static.py')
FORMS = ('eager', 'fast path', 'onnxruntime')


def onnxruntime_model(config: str, model, size, work_dir: str):
    """``model`` exported end to end (post-processing included) for inputs of ``size``, as
    mmdeploy's onnxruntime backend model."""
    from mmdeploy.apis import torch2onnx
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import load_config

    from mmevit.deploy.mmdeploy_compat import mmdeploy_export
    deploy_cfg, model_cfg = load_config(DEPLOY_CONFIG, config)
    deploy_cfg.onnx_config.input_shape = [size[1], size[0]]  # width, height
    os.makedirs(work_dir, exist_ok=True)
    checkpoint = osp.join(work_dir, 'model.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    image = detection_batch(*size)['inputs'][0].permute(1, 2, 0).numpy()
    with mmdeploy_export():  # as tools/deployment/deploy.py exports
        torch2onnx(image, work_dir, 'end2end.onnx', deploy_cfg, model_cfg, checkpoint, 'cpu')
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    return processor.build_backend_model([osp.join(work_dir, 'end2end.onnx')])


class Deployment(Setting):
    name = 'deployment'

    @staticmethod
    def add_arguments(parser):
        parser.add_argument('--deploy-detectors', nargs='+',
                            default=['RetinaNet-m4', 'RetinaNet-resnet50'],
                            choices=DETECTOR_NAMES, help='detectors of the deployment setting')
        parser.add_argument('--deploy-size', type=int, nargs=2, default=[800, 1344],
                            metavar=('H', 'W'), help='input of the deployment setting')

    def run(self, args, progress: Progress) -> List[dict]:
        if importlib.util.find_spec('mmdeploy') is None:
            raise SystemExit('The deployment setting needs mmdeploy: make deploy-venv, then '
                             '.venv-deploy/bin/python tools/benchmark.py --settings '
                             'deployment')
        size = tuple(args.deploy_size)
        data = detection_batch(*size)
        candidates, rows = {}, []
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.deploy_detectors:
                def build(name=name):
                    config = detector_config(name)
                    torch.manual_seed(0)  # the same weights in every form
                    from mmengine.config import Config
                    model = build_model(Config.fromfile(config))
                    backend = onnxruntime_model(config, model, size,
                                                osp.join(tmp, name.replace(' ', '_')))
                    forms = dict(zip(FORMS, (model, deployed_copy(copy.deepcopy(model)),
                                             backend)))
                    for form, m in forms.items():
                        candidates[f'{name} ({form})'] = lambda m=m: m.test_step(data)
                        rows.append(dict(setting=self.name, model=name, form=form,
                                         size=list(size)))
                    return 'exported and built'
                progress.step(f'deployment: export {name}', build)
            medians = {}

            def time_them():
                medians.update(round_robin(candidates, 2, 1, args.det_reps, progress))
                return join_ms(medians)
            progress.step('deployment: timing (2 threads, round-robin)', time_them)
        return [dict(r, latency_ms=1e3 * medians[f'{r["model"]} ({r["form"]})']) for r in rows]

    def tables(self, rows):
        def eager(model):
            return next(r['latency_ms'] for r in rows
                        if r['model'] == model and r['form'] == 'eager')
        r50 = next((r['latency_ms'] for r in rows
                    if r['model'].endswith('resnet50') and r['form'] == 'eager'), None)
        return [Table(
            'deployment: one image end to end (pre-processing to detections), 2 threads '
            '(ratio: speed over the eager model; over the eager ResNet-50 detector)',
            ('detector', 'size', 'form', 'latency (ms)', 'speed vs eager', 'speed vs eager R50'),
            [(r['model'], f'{r["size"][0]}x{r["size"][1]}', r['form'],
              f'{r["latency_ms"]:.0f}', ratio(eager(r['model']), r['latency_ms']),
              ratio(r50, r['latency_ms'])) for r in rows])]

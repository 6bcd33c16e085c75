"""The GPU setting (``--device cuda``): ``test_step`` latency of RetinaNet and Mask R-CNN with
M4, B1, L1, ResNet-50 and MobileNetV2 at 800x1333 and of the B/L segmentors at
512x512/1024x2048, eager and in every fast form (fast path, compiled with CUDA graphs, fp16),
with their output differences from eager; backbone throughput at 224x224 in fp16 against
timm's implementations when timm is installed; training iterations (eager, compiled, AMP) with
peak memory, compile time, gradient agreement and the projected COCO 1x wall time on 8 GPUs.
Ratios are over the eager ResNet-50 detector of the same run. ``--device cpu`` runs the same
code (for checking it, not for figures)."""
import importlib.util
import time
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

from mmevit.benchmark import measure
from mmevit.benchmark.base import Progress, Setting, Table, ratio, rows_of
from mmevit.benchmark.subjects import (DETECTOR_NAMES, PAPER_GPU, SEGMENTORS,
                                       benchmark_backbone, detector_config, model_from_config)
from mmevit.benchmark.training import training_iteration
from mmevit.deploy import (NETWORK_MODULES, TensorForward, compile_model, deployed_copy,
                           fast_path, flatten, half_precision, max_relative_error)
from mmevit.models import ARCHS
from mmevit.testing import detection_batch, segmentation_batch

# inference forms: eager; the fast path; the fast path with its backbone compiled (CUDA graphs
# on GPUs), or with backbone, neck and dense heads compiled; each also under fp16 autocast
INFERENCE_FORMS = ('eager', 'fast path', 'fast path fp16', 'compiled', 'compiled fp16',
                   'compiled all', 'compiled all fp16')
TRAINING_FORMS = ('eager', 'compiled', 'amp', 'compiled amp')
# COCO 1x: 117266 train2017 images with annotations, 16 per iteration, 12 epochs
COCO_1X_ITERATIONS = 12 * -(-117266 // 16)


def inference_form(model: nn.Module, form: str) -> nn.Module:
    """``model`` (a fresh copy) turned into one of :data:`INFERENCE_FORMS`, in place."""
    if form != 'eager':
        fast_path(model)
    if form.endswith('fp16'):
        half_precision(model)
    if form.startswith('compiled'):
        compile_model(model, NETWORK_MODULES if form.startswith('compiled all')
                      else ('backbone', ))
    return model


class GPU(Setting):
    name = 'gpu'

    @staticmethod
    def add_arguments(parser):
        gpu = parser.add_argument_group('the gpu setting (ratios over eager ResNet-50 detectors)')
        gpu.add_argument('--gpu-detectors', nargs='*', default=DETECTOR_NAMES,
                         choices=DETECTOR_NAMES, help='detectors timed at --det-size, batch 1')
        gpu.add_argument('--gpu-forms', nargs='+', default=list(INFERENCE_FORMS),
                         choices=INFERENCE_FORMS, help='inference forms (eager is always timed)')
        gpu.add_argument('--gpu-segmentors', nargs='*', default=list(SEGMENTORS),
                         choices=list(SEGMENTORS), help='B/L-series segmentors, batch 1')
        gpu.add_argument('--gpu-archs', nargs='*', default=list(ARCHS), choices=ARCHS,
                         help='backbones of the 224x224 fp16 throughput rows (timm too, if there)')
        gpu.add_argument('--train-detectors', nargs='*', default=DETECTOR_NAMES,
                         choices=DETECTOR_NAMES, help='detectors of the training rows')
        gpu.add_argument('--train-forms', nargs='+', default=list(TRAINING_FORMS),
                         choices=TRAINING_FORMS)
        gpu.add_argument('--det-size', type=int, nargs=2, default=[800, 1333],
                         metavar=('H', 'W'))
        gpu.add_argument('--seg-size', type=int, nargs=2, metavar=('H', 'W'),
                         help='one size for every segmentor instead of its protocol\'s')
        gpu.add_argument('--max-batch', type=int, default=4096,
                         help='first batch tried by the throughput rows (halved until it fits)')
        gpu.add_argument('--gpu-warmup', type=int, default=5)
        gpu.add_argument('--gpu-reps', type=int, default=20)
        gpu.add_argument('--gpu-train-reps', type=int, default=10)

    def run(self, args, progress: Progress) -> List[dict]:
        rows = []
        forms = ['eager'] + [f for f in args.gpu_forms if f != 'eager']
        models = [('detector', name, detector_config(name), tuple(args.det_size), forms)
                  for name in args.gpu_detectors]
        models += [('segmentor', name, SEGMENTORS[name][0],
                    tuple(args.seg_size or SEGMENTORS[name][1]),
                    [f for f in forms if 'all' not in f]) for name in args.gpu_segmentors]
        for kind, name, config, size, model_forms in models:
            eager_outputs = None  # every form of a model is checked against its eager outputs
            for form in model_forms:
                def latency(kind=kind, name=name, config=config, size=size, form=form):
                    nonlocal eager_outputs
                    row, outputs = self.latency(args, kind, name, config, size, form)
                    eager_outputs = outputs if form == 'eager' else eager_outputs
                    rows.append(dict(row, max_rel_error=max_relative_error(outputs,
                                                                           eager_outputs)))
                    return (f'gpu: {name} {form} {row["latency_ms"]:.1f} ms (first call '
                            f'{row["first_call_s"]:.1f} s)')
                progress.step(f'gpu {kind} {name} ({form})', latency)
        sources = ('mmevit', 'timm') if importlib.util.find_spec('timm') else ('mmevit', )
        for name in args.gpu_archs:
            for source in sources:
                def throughput(name=name, source=source):
                    rows.append(self.throughput(args, name, source))
                    return (f'gpu: {source} {name} {rows[-1]["img_per_s"]:.0f} img/s (batch '
                            f'{rows[-1]["batch"]})')
                progress.step(f'gpu throughput {source} {name}', throughput)
        for name in args.train_detectors:
            for form in args.train_forms:
                def training(name=name, form=form):
                    row = training_iteration(detector_config(name), args.gpu_train_reps,
                                             args.device, torch.get_num_threads(),
                                             compiled='compiled' in form, amp='amp' in form,
                                             warmup=args.gpu_warmup, size=args.det_size)
                    rows.append(dict(row, setting=self.name, measure='training', model=name,
                                     form=form, projected_1x_hours=(
                                         COCO_1X_ITERATIONS * row['iter_s'] / 3600)))
                    return (f'gpu: train {name} {form} {row["iter_s"] * 1e3:.1f} ms/iter, peak '
                            f'memory +{row["peak_memory_mib"]:.0f} MiB')
                progress.step(f'gpu train {name} ({form})', training)
        return rows

    def latency(self, args, kind: str, name: str, config: str, size: Tuple[int, int],
                form: str) -> Tuple[dict, List[torch.Tensor]]:
        """Median ``test_step`` latency of one model in one form, and its network's raw
        outputs (head scores and box deltas, or logits) for the comparison with eager's."""
        torch.manual_seed(0)  # the same random weights in every form
        model = inference_form(model_from_config(config, args.device), form)
        batch = detection_batch if kind == 'detector' else segmentation_batch
        data = batch(*size, device=args.device)
        with torch.inference_mode():
            start = time.perf_counter()
            model.test_step(data)  # compiles and records CUDA graphs in the compiled forms
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            first_s = time.perf_counter() - start
            t = measure.median_time(lambda: model.test_step(data), args.gpu_warmup,
                                    args.gpu_reps, args.device)
            inputs = model.data_preprocessor(data, False)['inputs']
            outputs = [o.float().clone() for o in flatten(TensorForward(model)(inputs))]
        return dict(setting=self.name, measure='latency', kind=kind, model=name, form=form,
                    size=list(size), latency_ms=1e3 * t['median_s'],
                    first_call_s=first_s), outputs

    def throughput(self, args, name: str, source: str) -> Dict[str, object]:
        """img/s at 224x224 under fp16 autocast with the largest power-of-two batch that fits."""
        if source == 'timm':
            import timm
            model = timm.create_model(f'efficientvit_{name}', pretrained=False).eval()
        else:
            model = deployed_copy(benchmark_backbone(name, img_size=224))
        model = model.to(args.device)
        half = torch.float16 if args.device.startswith('cuda') else torch.bfloat16
        batch = args.max_batch
        while True:
            try:
                x = torch.randn(batch, 3, 224, 224, device=args.device)
                with torch.inference_mode(), torch.autocast(args.device, half):
                    t = measure.median_time(lambda: model(x), args.gpu_warmup, args.gpu_reps,
                                            args.device)
                break
            except torch.cuda.OutOfMemoryError:
                x = None
                torch.cuda.empty_cache()
                if batch == 1:
                    raise
                batch //= 2
        return dict(setting=self.name, measure='throughput', model=name, source=source,
                    batch=batch, img_per_s=batch / t['median_s'],
                    paper_img_per_s=PAPER_GPU.get(name))

    def tables(self, rows):
        def eager_r50(measure_name, name):
            detector = name.rsplit('-', 1)[0]
            base = rows_of(rows, measure=measure_name, model=f'{detector}-resnet50',
                           form='eager')
            return base[0] if base else None

        def speed_over(key, r, base):
            return ratio(base and base[key], r[key])

        tables = []
        detectors = rows_of(rows, measure='latency', kind='detector')
        if detectors:
            tables.append(Table(
                'gpu: detector inference, one image, test_step latency (speed over the eager '
                'ResNet-50 detector)',
                ('detector', 'form', 'latency (ms)', 'first call (s)', 'speed vs eager R50',
                 'max rel. output error vs eager'),
                [(r['model'], r['form'], f'{r["latency_ms"]:.1f}', f'{r["first_call_s"]:.1f}',
                  speed_over('latency_ms', r, eager_r50('latency', r['model'])),
                  f'{r["max_rel_error"]:.1e}') for r in detectors]))
        segmentors = rows_of(rows, measure='latency', kind='segmentor')
        if segmentors:
            tables.append(Table(
                'gpu: B/L-series segmentors, one image (speed over the eager segmentor)',
                ('segmentor', 'size', 'form', 'latency (ms)', 'first call (s)',
                 'speed vs eager', 'max rel. logit error vs eager'),
                [(r['model'], f'{r["size"][0]}x{r["size"][1]}', r['form'],
                  f'{r["latency_ms"]:.1f}', f'{r["first_call_s"]:.1f}',
                  speed_over('latency_ms', r, rows_of(segmentors, model=r['model'],
                                                      form='eager')[0]),
                  f'{r["max_rel_error"]:.1e}') for r in segmentors]))
        throughput = rows_of(rows, measure='throughput')
        if throughput:
            def vs_timm(r):
                timm = rows_of(throughput, model=r['model'], source='timm')
                return ratio(r['img_per_s'], timm[0]['img_per_s']) if timm else '-'
            tables.append(Table(
                'gpu: backbone throughput, 224x224, fp16 autocast, largest power-of-two batch '
                '(ratio over timm\'s implementation where timm is installed)',
                ('backbone', 'implementation', 'batch', 'img/s', 'vs timm',
                 'paper (V100) img/s'),
                [(r['model'], r['source'], r['batch'], f'{r["img_per_s"]:.0f}', vs_timm(r),
                  r['paper_img_per_s'] or '-') for r in throughput]))
        training = rows_of(rows, measure='training')
        if training:
            tables.append(Table(
                'gpu: detector training, 2 images per iteration, AdamW (speed over the eager '
                'ResNet-50 detector; 1x: 12 COCO epochs at 16 images per iteration, 8 GPUs)',
                ('detector', 'form', 'ms/iter', 'first iteration (s)', 'peak memory (MiB)',
                 'speed vs eager R50', 'gradient rel. diff vs eager', 'projected 1x (h)'),
                [(r['model'], r['form'], f'{1e3 * r["iter_s"]:.1f}',
                  f'{r["first_iter_s"]:.1f}', f'{r["peak_memory_mib"]:.0f}',
                  speed_over('iter_s', r, eager_r50('training', r['model'])),
                  '-' if r.get('grad_rel_error') is None else f'{r["grad_rel_error"]:.1e}',
                  f'{r["projected_1x_hours"]:.1f}') for r in training]))
        return tables

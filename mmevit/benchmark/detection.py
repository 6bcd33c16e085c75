"""RetinaNet and Mask R-CNN with M4, ResNet-50 and MobileNetV2 backbones, one 800x1333 image,
two threads, ``test_step`` latency (pre-processing to boxes/masks); ratio: speed over the
ResNet-50 detector."""
from typing import List

from mmevit.benchmark.base import Progress, Setting, Table, join_ms, ratio, round_robin
from mmevit.benchmark.subjects import DETECTORS, model_from_config
from mmevit.deploy import deployed_copy
from mmevit.testing import detection_batch


class Detection(Setting):
    name = 'detection'

    @staticmethod
    def add_arguments(parser):
        parser.add_argument('--det-backbones', nargs='+',
                            default=['m4', 'resnet50', 'mobilenetv2'],
                            choices=['m4', 'b1', 'l1', 'resnet50', 'mobilenetv2'],
                            help='backbones of the (CPU) detection setting')
        parser.add_argument('--det-reps', type=int, default=3,
                            help='timed runs of each detector')

    def run(self, args, progress: Progress) -> List[dict]:
        data = detection_batch(800, 1333)
        rows, candidates = {}, {}
        for detector, configs in DETECTORS.items():
            for backbone, config in configs.items():
                if backbone not in args.det_backbones:
                    continue
                for form in ('plain', 'fast path') if backbone == 'm4' else ('fast path', ):
                    key = f'{detector}-{backbone} ({form})'

                    def build(key=key, config=config, form=form, row=dict(
                            setting=self.name, detector=detector, backbone=backbone,
                            form=form, config=config)):
                        model = model_from_config(config)
                        if form == 'fast path':
                            model = deployed_copy(model)
                        candidates[key] = lambda: model.test_step(data)
                        rows[key] = row
                        return 'built'
                    progress.step(f'detection: build {key}', build)
        medians = {}

        def time_them():
            medians.update(round_robin(candidates, 2, 1, args.det_reps, progress))
            return join_ms(medians)
        progress.step('detection: timing (2 threads, round-robin)', time_them)
        return [dict(row, latency_ms=1e3 * medians[key]) for key, row in rows.items()]

    def tables(self, rows):
        def r50_latency(detector):
            return next((b['latency_ms'] for b in rows
                         if b['detector'] == detector and b['backbone'] == 'resnet50'), None)
        return [Table(
            'detection: one 800x1333 image, 2 threads (test_step latency; ratio: speed over the '
            'ResNet-50 detector)',
            ('detector', 'backbone', 'form', 'latency (ms)', 'speed vs R50'),
            [(r['detector'], r['backbone'], r['form'], f'{r["latency_ms"]:.0f}',
              ratio(r50_latency(r['detector']), r['latency_ms'])) for r in rows])]

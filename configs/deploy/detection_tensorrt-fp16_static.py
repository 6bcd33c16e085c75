# mmdeploy deploy config: a detector to a TensorRT engine in fp16 with its post-processing,
# 800x1344 input. For the M-series detectors: the B/L-series' linear attention must stay in
# fp32 in fp16 engines (its normaliser overflows in fp16, as in PyTorch, where mmevit keeps it
# fp32), which this config does not yet enforce. Not run here (no GPU).
_base_ = ['./detection_tensorrt_static.py']
backend_config = dict(common_config=dict(fp16_mode=True))

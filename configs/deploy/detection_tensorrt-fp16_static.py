# mmdeploy deploy config: a detector to a TensorRT engine in fp16 with its post-processing,
# 800x1344 input. tools/deployment/deploy.py builds the engine to keep the B/L-series' linear
# attention in fp32 (its normaliser overflows in fp16; mmevit's PyTorch path keeps it fp32
# too); mmdeploy's own tools/deploy.py does not. Not run here (no GPU).
_base_ = ['./detection_tensorrt_static.py']
backend_config = dict(common_config=dict(fp16_mode=True))

# mmdeploy deploy config: a segmentor to one onnxruntime model, fixed input size. It outputs the
# decode head's logits (with_argmax=False): mmseg resizes logits to the image before the
# argmax, which tools/deployment/deploy.py's backend model then does as mmseg does
# (mmevit.deploy.mmdeploy_compat.mmseg_label_maps). with_argmax=True puts the argmax in the
# graph (labels at the input's size, which differ at region borders where the test
# pipeline resizes the image).
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=13,  # Mask2Former's einsum needs 12 or later
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=[512, 512],  # width, height: ADE20K's crops
    optimize=True)
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=False)
backend_config = dict(type='onnxruntime')

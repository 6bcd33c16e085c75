"""tools/deployment/export_onnx.py from a user's checkpoint."""
import os.path as osp

from conftest import check, run_tool

TOOL = 'deployment/export_onnx.py'


def test_export_tool_from_official_checkpoint(official_checkpoint, tmp_path):
    out = str(tmp_path / 'm0.onnx')
    text = check(run_tool(TOOL, '--arch', 'm0', '--checkpoint',
                          official_checkpoint('efficientvit_m0'), '--shape', '96', '128',
                          '--out', out))
    assert osp.isfile(out) and 'max relative error' in text
    error = float(text.split('max relative error')[1].split()[0])
    assert error < 1e-4


def test_export_tool_refuses_missing_checkpoint(tmp_path):
    out = str(tmp_path / 'm0.onnx')
    proc = run_tool(TOOL, '--arch', 'm0', '--checkpoint', 'nowhere.pth', '--out', out)
    assert proc.returncode != 0 and 'nowhere.pth' in proc.stderr
    assert not osp.exists(out)

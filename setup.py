from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open('mmevit/version.py') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmevit',
    version=read_version(),
    description=('EfficientViT backbones (M0-M5, B0-B3, L1-L2) for MMDetection and '
                 'MMSegmentation'),
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmevit', 'mmevit.*']),
    python_requires='>=3.8',
    # The full, pinned stack is in requirements.txt (mmcv must be built against the installed
    # torch, so it cannot be resolved here); these are the minimum the package imports.
    install_requires=['torch', 'mmengine>=0.10.0', 'mmcv>=2.0.0,<2.2.0', 'mmdet>=3.0.0',
                      'mmsegmentation>=1.0.0'],
    license='Apache License 2.0',
    zip_safe=False,
)

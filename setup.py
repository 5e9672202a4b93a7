"""frelu_mm: FReLU (Funnel Activation, ECCV 2020) for mmdetection and mmsegmentation."""
from setuptools import find_packages, setup

setup(
    name='frelu_mm',
    version='0.1.0',
    description='FReLU (Funnel Activation) for the OpenMMLab toolkits',
    packages=find_packages(include=['frelu_mm', 'frelu_mm.*']),
    # the fused FReLU inference kernel, compiled on first use
    package_data={'frelu_mm.layers': ['csrc/*.cpp', 'csrc/*.h']},
    python_requires='>=3.9',
    # torch and mmcv are left to the user (mmcv needs a build matching torch);
    # scripts/setup_env.sh installs the pinned stack.
    install_requires=['mmengine>=0.10.0'],
)

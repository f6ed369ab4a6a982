from setuptools import find_packages, setup

setup(
    name="swin_mm",
    version="0.1.0",
    description="Swin Transformer backbone for MMDetection 3.x and MMSegmentation 1.x",
    packages=find_packages(include=["swin_mm", "swin_mm.*"]),
    python_requires=">=3.9",
    install_requires=["torch>=2.1"],
    extras_require={
        "mm": ["mmengine==0.10.7", "mmcv==2.1.0", "mmdet==3.3.0", "mmsegmentation==1.2.2",
               "pycocotools"],
        "test": ["pytest", "hypothesis"],
    },
)

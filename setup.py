from setuptools import find_packages, setup

setup(
    name="swin_mm",
    version="0.1.0",
    description="Swin Transformer backbone for MMDetection 3.x and MMSegmentation 1.x",
    license="Apache-2.0",
    packages=find_packages(include=["swin_mm", "swin_mm.*"]),
    # torch 2.5: torch.is_autocast_enabled(device), add_safe_globals and
    # get_unsafe_globals_in_checkpoint (safe loading), torch.compiler.is_compiling
    python_requires=">=3.10",
    install_requires=["torch>=2.5", "numpy"],
    extras_require={
        # the versions MMDetection 3.3 / MMSegmentation 1.2 accept (mmcv < 2.2); tested together
        "mm": ["mmengine>=0.10.4,<0.11", "mmcv>=2.0.0rc4,<2.2.0", "mmdet>=3.3,<3.4",
               "mmsegmentation>=1.2,<1.3", "pycocotools", "matplotlib"],
        # tools/export.py, tools/test.py with an .onnx file, tools/benchmark_onnx.py
        "deploy": ["onnx>=1.16", "onnxscript", "onnxruntime>=1.17"],
        "test": ["pytest", "hypothesis"],
    },
)

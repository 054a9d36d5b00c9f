"""lumbarseg: vertebra segmentation and L1-L5/S1 labelling on lateral lumbar radiographs."""

from pathlib import Path

from setuptools import find_packages, setup

# Detectron2 is not on PyPI under its own name: tools/install_detectron2.py installs it
# (called by `make install`), so it is deliberately absent from install_requires.
INSTALL_REQUIRES = [
    "torch>=2.4",
    "torchvision>=0.19",
    "numpy>=1.24",
    "opencv-python-headless>=4.8",
    "pycocotools>=2.0.7",
    "pyyaml>=5.4",  # lumbarseg.config reads YAML errors directly
    # Fast-moving DICOM libraries: capped at the newest minor release the tests have run
    # with (pydicom 3.0.2, highdicom 0.28.2); raise the cap after the suite passes on a newer.
    "pydicom>=3.0,<3.1",
    "highdicom>=0.23,<0.29",
    "pylibjpeg>=2.0",
    "pylibjpeg-openjpeg>=2.3",
    "pylibjpeg-rle>=2.0",
    "pyjpegls>=1.4",
    "python-gdcm>=3.0.24",  # JPEG lossless (process 14) decoding, BSD licence
    "shapely>=2.0",
    "scipy>=1.10",
    "tqdm>=4.60",
    "setuptools<81",  # detectron2.model_zoo imports pkg_resources
    # lumbarseg.deploy: `export-model` writes the ONNX graph into bundles (torch's exporter
    # needs onnx); `infer --runtime onnxruntime` runs it (picked over OpenVINO by measurement).
    "onnx>=1.16",
    "onnxruntime>=1.18",
]

setup(
    name="lumbarseg",
    version="0.1.0",
    description=__doc__,
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["lumbarseg", "lumbarseg.*"]),
    include_package_data=True,
    package_data={"lumbarseg": ["py.typed"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "dev": ["pytest>=7", "ruff>=0.5", "psutil>=5.9"],
    },
    entry_points={"console_scripts": ["lumbarseg=lumbarseg.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)

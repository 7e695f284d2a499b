"""What benchmarks/pack_for_gpu.sh needs: which wheels the GPU machine lacks, the chest X-rays re-encoded at 224 px,
and the size of what travels.

The GPU machine (shared/docs/field-notes.md 8.2; /work/.library/device/KINDS.md) has torch, timm, opencv, pandas,
scipy, matplotlib, seaborn, ... but not segmentation-models-pytorch, albumentations, ImageHash, papermill, nbconvert
and their own needs, and it cannot install anything from the network. ``requirements`` walks the dependencies of
what the study imports (its requirements.txt) from the packages installed here, stops at every package the GPU
machine already has, and prints ``name==version`` for the rest (the versions installed here).

    python benchmarks/gpu_pack.py requirements
    python benchmarks/gpu_pack.py data --src ../shared/data/chest_xray --out .gpu_pack/data/chest_xray --size 224
    python benchmarks/gpu_pack.py size --pack .gpu_pack --limit-mib 64
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The top-level packages the study needs (requirements.txt, less torch / torchvision which the GPU machine has).
ROOTS = ("segmentation-models-pytorch", "albumentations", "opencv-python-headless", "numpy", "pandas", "scipy",
         "pillow", "ImageHash", "safetensors", "huggingface-hub", "tqdm", "PyYAML", "matplotlib", "seaborn",
         "ipykernel", "papermill", "nbconvert", "nbformat", "nbclient", "jupyter-client")
#: Python packages on the GPU machine's image (KINDS.md, "Python packages already there", read 2026-11-17).
GPU_HAS = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp""".split())
#: The GPU machine's interpreter, for evaluating dependency markers.
MARKERS = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}


def _canon(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def requirements() -> list[str]:
    """``name==version`` (as installed here) of every package the study needs that the GPU machine lacks."""
    from packaging.requirements import Requirement

    carry: dict[str, str] = {}
    stack: list[tuple[str, frozenset[str]]] = [(r, frozenset()) for r in ROOTS]
    seen: set[tuple[str, frozenset[str]]] = set()
    while stack:
        name, extras = stack.pop()
        name = _canon(name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name in GPU_HAS:  # there, with its own dependencies
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise SystemExit(f"gpu_pack: {name} is needed but not installed here (pip install -r requirements.txt)") \
                from None
        carry[dist.metadata["Name"]] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)  # with the extras asked for (nbconvert needs bleach[css], i.e. tinycss2)
            if req.marker is None or any(req.marker.evaluate({**MARKERS, "extra": e}) for e in {"", *extras}):
                stack.append((req.name, frozenset(req.extras)))
    return [f"{n}=={v}" for n, v in sorted(carry.items(), key=lambda kv: _canon(kv[0]))]


def pack_data(src: Path, out: Path, size: int) -> int:
    """The chest X-ray layout (``Lung Segmentation/CXR_png`` + ``masks``) re-encoded at ``size`` px: images with area
    interpolation, masks nearest (what the study's cache does to them), lossless grey PNGs. Returns the pairs."""
    import cv2
    import numpy as np
    from PIL import Image

    found = sorted(src.rglob("CXR_png"))
    if not found:
        raise SystemExit(f"gpu_pack: no 'Lung Segmentation/CXR_png' under {src}")
    lung = found[0].parent
    n = 0
    for sub, interp in (("CXR_png", cv2.INTER_AREA), ("masks", cv2.INTER_NEAREST)):
        (out / lung.name / sub).mkdir(parents=True, exist_ok=True)
        for path in sorted((lung / sub).glob("*.png")):
            with Image.open(path) as im:
                arr = np.asarray(im.convert("L"))
            small = cv2.resize(arr, (size, size), interpolation=interp)
            Image.fromarray(small).save(out / lung.name / sub / path.name, optimize=True)
            n += sub == "CXR_png"
    return n


def tree_bytes() -> int:
    """Bytes of what travels besides carried paths: tracked files and untracked files git does not ignore."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    return sum((ROOT / n).stat().st_size for n in names if n and (ROOT / n).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("requirements", help="print name==version of each wheel to carry")
    d = sub.add_parser("data", help="re-encode the chest X-rays")
    d.add_argument("--src", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--size", type=int, default=224)
    s = sub.add_parser("size", help="print the sizes; fail when the pack and the working tree exceed the limit")
    s.add_argument("--pack", type=Path, required=True)
    s.add_argument("--limit-mib", type=float, default=64)
    args = ap.parse_args(argv)
    if args.cmd == "requirements":
        print("\n".join(requirements()))
    elif args.cmd == "data":
        print(f"gpu_pack: {pack_data(args.src, args.out, args.size)} chest X-ray pairs at {args.size} px in {args.out}")
    else:
        parts = {p.name: folder_bytes(p) for p in sorted(args.pack.iterdir()) if p.is_dir()}
        tree = tree_bytes()
        total = sum(parts.values()) + tree
        for name, b in parts.items():
            print(f"gpu_pack: {args.pack.name}/{name}: {b / 2**20:.1f} MiB")
        print(f"gpu_pack: working tree (tracked + untracked, not ignored): {tree / 2**20:.1f} MiB")
        print(f"gpu_pack: total that travels: {total / 2**20:.1f} MiB of {args.limit_mib:g} MiB")
        if total > args.limit_mib * 2**20:
            print("gpu_pack: OVER the limit: the device tool would refuse the call", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

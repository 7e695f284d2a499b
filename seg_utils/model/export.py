"""Export a trained model to ONNX or TorchScript, checked against PyTorch on a real batch.

Both files take ``image``: float32 ``(N, 3, S, S)``, the preprocessed, normalised batch (see the metadata), with a
dynamic batch axis, and return ``logits``: float32 ``(N, 1, S, S)`` (a pixel is foreground where
``sigmoid(logits) > threshold``). The preprocessing is recorded in the file itself, as flat text keys: ONNX
``metadata_props`` (``onnxruntime.InferenceSession(...).get_modelmeta().custom_metadata_map``), TorchScript the
extra file ``metadata.json`` (``torch.jit.load(path, _extra_files={"metadata.json": ""})``).

- ONNX: the ``torch.export``-based exporter (``torch.onnx.export(..., dynamo=True)``, the default since torch 2.9,
  which needs the ``onnx`` and ``onnxscript`` packages), opset :data:`OPSET`, weights inside the one file. Old opsets
  gave smp models wrong upsampling (smp#604, #801); opset 18 resizes as PyTorch does.
- TorchScript: ``torch.jit.trace``. torch deprecates TorchScript in favour of ``torch.export`` (a FutureWarning,
  silenced here), but it is what MONAI bundles and libtorch (C++) load today.

The export is written to a temporary file, run on the batch, compared with the PyTorch model's logits, and moved
into place only when the largest absolute difference is at most :data:`TOLERANCE`; otherwise :class:`ExportError`
is raised and nothing is left behind. ONNX files are run with onnxruntime where it is installed, else with
``onnx.reference.ReferenceEvaluator`` (pure numpy, slower); the result says which.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ExportError, check_choice

__all__ = ["EXPORT_FORMATS", "SUFFIXES", "INPUT_NAME", "OUTPUT_NAME", "OPSET", "TOLERANCE", "ExportError",
           "ExportResult", "export_model", "read_export_metadata"]

EXPORT_FORMATS = ("onnx", "torchscript")
#: The default file name of each format, beside the run.
SUFFIXES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
INPUT_NAME, OUTPUT_NAME = "image", "logits"
OPSET = 18
#: The largest absolute difference of the logits that an export may show against PyTorch.
TOLERANCE = 1e-3
_TORCHSCRIPT_METADATA = "metadata.json"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` made and how it was checked.

    Attributes:
        path: the exported file.
        format: ``onnx`` or ``torchscript``.
        max_abs_diff: the largest absolute difference between the file's logits and PyTorch's on the check batch.
        checked_with: the runtime that ran the file (``onnxruntime 1.x``, ``onnx.reference 1.x``, ``torch.jit``).
        batch: the check batch's shape (the export traced a smaller batch, so the dynamic batch axis is exercised).
    """

    path: Path
    format: str
    max_abs_diff: float
    checked_with: str
    batch: tuple[int, ...]

    def __str__(self) -> str:
        return (f"{self.path}: {self.format}, max abs logit difference {self.max_abs_diff:.2e} against PyTorch on a "
                f"batch of {self.batch[0]} ({self.checked_with}; limit {TOLERANCE:g})")


class _Named(nn.Module):
    """The model with its input named ``image`` (TorchScript keeps the argument's name)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)


def _version(name: str) -> str:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return "?"


def _need(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"ONNX export needs the package(s) {', '.join(missing)}, which are not installed: "
                          "pip install -e '.[export]' (onnx, onnxscript, onnxruntime), or export --format torchscript")


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    _need("onnx", "onnxscript")
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its steps
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=OPSET, dynamic_shapes=({0: batch},),
                          external_data=False, verbose=False)


def _stamp_onnx(path: Path, meta: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, meta)
    onnx.save(proto, str(path))


def _run_onnx(path: Path, x: np.ndarray) -> tuple[np.ndarray, str]:
    try:
        import onnxruntime as ort
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        return ReferenceEvaluator(str(path)).run(None, {INPUT_NAME: x})[0], f"onnx.reference {_version('onnx')}"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0], f"onnxruntime {ort.__version__}"


def _export_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings and torch.jit's deprecation (see the module docstring)
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(path))


def _stamp_torchscript(path: Path, meta: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.load(str(path), map_location="cpu"), str(path),
                       _extra_files={_TORCHSCRIPT_METADATA: json.dumps(meta, indent=1)})


def _run_torchscript(path: Path, x: np.ndarray) -> tuple[np.ndarray, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return loaded(torch.from_numpy(x)).numpy(), f"torch.jit {torch.__version__}"


def read_export_metadata(path: str | Path) -> dict[str, str]:
    """The metadata an export carries (ONNX ``metadata_props``, or TorchScript's ``metadata.json``)."""
    path = Path(path)
    if path.suffix == ".onnx":
        _need("onnx")
        import onnx

        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    extra = {_TORCHSCRIPT_METADATA: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[_TORCHSCRIPT_METADATA] or "{}")


def export_model(model: nn.Module, batch: torch.Tensor, path: str | Path, fmt: str,
                 meta: dict[str, object] | None = None, tolerance: float = TOLERANCE) -> ExportResult:
    """Export ``model`` (on the CPU, float32, eval mode) and check the file against it on ``batch``.

    Args:
        model: a segmentation model returning logits ``(N, 1, S, S)``; a copy is not made (it is moved to the CPU).
        batch: a real, preprocessed batch float32 ``(N, 3, S, S)`` (:func:`seg_utils.data.transforms.normalise` of
            the run's images). The file is traced with its first ``max(1, N - 1)`` images and checked on all ``N``,
            so a dynamic batch axis that does not work fails the check.
        path: the file to write (replaced only when the check passes).
        fmt: one of :data:`EXPORT_FORMATS`.
        meta: what to record in the file (values written as text; dicts and lists as JSON); the input and output
            names, the exporter and the check's result (``check_max_abs_logit_diff``, ...) are added.
        tolerance: the largest absolute logit difference accepted.

    Returns:
        An :class:`ExportResult`.

    Raises:
        ConfigError: an unknown format, a batch of the wrong shape, or the ONNX packages missing.
        ExportError: the exporter failed, or the file's logits differ from PyTorch's by more than ``tolerance``.

    Example:
        >>> result = export_model(model, normalise(images), "model.onnx", "onnx", {"image_size": 224})
        >>> print(result)  # model.onnx: onnx, max abs logit difference 2.1e-05 against PyTorch on a batch of 4 ...
    """
    check_choice("format", fmt, EXPORT_FORMATS)
    if batch.ndim != 4 or batch.shape[1] != 3 or not batch.is_floating_point():
        raise ConfigError(f"the check batch must be float (N, 3, S, S), got {batch.dtype} {tuple(batch.shape)}")
    path = Path(path)
    named = _Named(model.float().cpu().eval())
    batch = batch.float().cpu()
    example = batch[: max(1, len(batch) - 1)]
    with torch.no_grad():
        expected = named(batch).numpy()
    info = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (meta or {}).items()}
    info.update(input_name=INPUT_NAME, input_shape="N x 3 x S x S float32 (N dynamic)", output_name=OUTPUT_NAME,
                output_shape="N x 1 x S x S float32 logits", exporter=f"torch {torch.__version__}"
                + (f", onnx opset {OPSET}" if fmt == "onnx" else ", torch.jit.trace"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            (_export_onnx if fmt == "onnx" else _export_torchscript)(named, example, tmp)
        except (ConfigError, ExportError):
            raise
        except Exception as exc:
            raise ExportError(f"the {fmt} exporter failed on {type(model).__name__}: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
        got, runtime = (_run_onnx if fmt == "onnx" else _run_torchscript)(tmp, batch.numpy())
        if got.shape != expected.shape:
            raise ExportError(f"the {fmt} export returns {got.shape} for a batch of {len(batch)}, PyTorch "
                              f"{expected.shape}: the batch axis is not dynamic")
        diff = float(np.abs(got.astype(np.float64) - expected).max())
        if not diff <= tolerance:
            raise ExportError(f"the {fmt} export's logits differ from PyTorch's by up to {diff:.3g} (limit "
                              f"{tolerance:g}) on a batch of {len(batch)} ({runtime}); the file was not written")
        info.update(check_max_abs_logit_diff=f"{diff:.3g}", check_batch=str(len(batch)), check_runtime=runtime)
        (_stamp_onnx if fmt == "onnx" else _stamp_torchscript)(tmp, info)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(path=path, format=fmt, max_abs_diff=diff, checked_with=runtime, batch=tuple(batch.shape))

"""Model factory over segmentation-models-pytorch: U-Net and DeepLabV3+ with any smp encoder.

Deviation from stock smp, documented in the README: smp builds DeepLabV3+ by dilating the encoder to
output stride 16, which VGG and DenseNet encoders refuse (they downsample with pooling). For those
encoders :func:`build_model` builds DeepLabV3+ from the encoder's own first four stages
(``encoder_depth=4``, whose deepest features are already at stride 16) without dilation, as the common
Keras DeepLabV3+ implementations do. VGG19 loses only its last max-pool; DenseNet121 loses its last
transition and dense block (see shared/docs/field-notes.md section 4.3).

Weights (``weights``):

- ``"imagenet"``: smp's own download from the Hugging Face Hub (``smp-hub/<encoder>.imagenet``);
- ``"none"``: random initialisation;
- a path: a ``.safetensors`` / ``.pth`` encoder state dict, or a folder holding one (a Hugging Face cache
  folder, e.g. a Kaggle dataset of ``models--smp-hub--resnet50.imagenet/snapshots/<rev>/model.safetensors``),
  for kernels without internet.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from unittest import mock

import segmentation_models_pytorch as smp
import torch
from torch import nn

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..errors import ConfigError, WeightsError

__all__ = ["ARCHS", "POSTER_ENCODERS", "IMAGENET_MEAN", "IMAGENET_STD", "build_model", "model_deviation",
           "find_local_weights", "count_parameters", "check_encoder"]

ARCHS: dict[str, type[nn.Module]] = {"unet": smp.Unet, "deeplabv3plus": smp.DeepLabV3Plus}
POSTER_ENCODERS = ("vgg19", "resnet50", "densenet121")


def _encoder_names() -> list[str]:
    return sorted(smp.encoders.get_encoder_names())


def _dilatable(encoder: str) -> bool:
    if encoder.startswith("tu-"):
        return True  # timm decides; most timm models accept output_stride
    entry = smp.encoders.encoders[encoder]["encoder"]
    try:
        entry.make_dilated(mock.MagicMock(), 16)
    except ValueError:
        return False
    except Exception:
        return True
    return True


def check_encoder(encoder: str) -> None:
    """Raise :class:`ConfigError` unless ``encoder`` is an smp encoder name (or a timm ``tu-`` name)."""
    if not isinstance(encoder, str) or not (encoder.startswith("tu-") or encoder in smp.encoders.encoders):
        stem = str(encoder).split("_")[0][:6]
        close = [n for n in _encoder_names() if stem and n.startswith(stem)][:8]
        raise ConfigError(f"unknown encoder {encoder!r}; the poster's are {', '.join(POSTER_ENCODERS)}"
                          + (f"; similar smp names: {', '.join(close)}" if close else "")
                          + " (any name of segmentation_models_pytorch.encoders.get_encoder_names() works)")


def model_deviation(arch: str, encoder: str) -> str:
    """One sentence on how the model departs from stock smp (empty when it does not)."""
    if arch == "deeplabv3plus" and not _dilatable(encoder):
        return (f"DeepLabV3+ with {encoder}: smp cannot dilate this encoder, so the decoder reads the encoder's "
                "stride-16 features of its first four stages (encoder_depth=4), without dilation")
    return ""


def find_local_weights(path: str | Path, encoder: str) -> Path:
    """Locate an encoder state dict under ``path`` (a file, or a folder such as a Hugging Face cache).

    Raises:
        WeightsError: nothing usable at ``path``.
    """
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        patterns = [f"**/models--smp-hub--{encoder}.imagenet/snapshots/*/model.safetensors",
                    f"**/{encoder}*.safetensors", f"**/{encoder}*.pth", "model.safetensors"]
        for pattern in patterns:
            found = sorted(p.glob(pattern))
            if found:
                return found[-1]
        raise WeightsError(f"no weights for encoder {encoder!r} under {p}: looked for "
                           f"models--smp-hub--{encoder}.imagenet/snapshots/*/model.safetensors (a Hugging Face "
                           f"cache), {encoder}*.safetensors, {encoder}*.pth or model.safetensors")
    raise WeightsError(f"weights path {p} does not exist; pass weights='imagenet' (online), 'none', or an "
                       "existing file or folder")


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: cannot be read as a state dict ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def _imagenet_error(encoder: str, exc: Exception) -> WeightsError:
    return WeightsError(
        f"cannot get ImageNet weights for encoder {encoder!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
        "Either turn the internet on (Kaggle: Settings > Internet) so smp downloads smp-hub/"
        f"{encoder}.imagenet, or pass weights=PATH to a local copy: a .safetensors/.pth encoder state dict or a "
        "Hugging Face cache folder (e.g. an attached Kaggle dataset); weights='none' trains from scratch")


def build_model(arch: str, encoder: str, weights: str = "imagenet", classes: int = 1) -> nn.Module:
    """Build an smp model that returns logits ``(N, classes, H, W)``.

    Args:
        arch: a key of :data:`ARCHS` (``unet`` or ``deeplabv3plus``).
        encoder: any smp encoder name (``vgg19``, ``resnet50``, ``densenet121``, ``tu-*``, ...).
        weights: ``imagenet``, ``none`` or a path (see the module docstring).
        classes: output channels.

    Raises:
        ConfigError: unknown arch or encoder.
        WeightsError: weights that cannot be had, with both ways out in the message.

    Example:
        >>> model = build_model("deeplabv3plus", "vgg19", weights="none")
    """
    if arch not in ARCHS:
        raise ConfigError(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")
    check_encoder(encoder)
    if weights is None:
        weights = "none"
    local = None if weights in ("imagenet", "none") else find_local_weights(weights, encoder)
    smp_weights = "imagenet" if weights == "imagenet" else None
    if encoder.startswith("tu-") and smp_weights:
        smp_weights = True
    kwargs: dict = {"encoder_name": encoder, "encoder_weights": smp_weights, "classes": classes}
    patch: contextlib.AbstractContextManager = contextlib.nullcontext()
    if arch == "deeplabv3plus" and not _dilatable(encoder):
        cls = smp.encoders.encoders[encoder]["encoder"]
        # Scoped: smp's get_encoder calls make_dilated(16); with depth 4 the features already end at stride 16.
        patch = mock.patch.object(cls, "make_dilated", lambda self, *a, **k: None)
        kwargs.update(encoder_depth=4, encoder_output_stride=16)
    try:
        with patch:
            model = ARCHS[arch](**kwargs)
    except (ConfigError, WeightsError):
        raise
    except Exception as exc:
        if smp_weights and _is_download_error(exc):
            raise _imagenet_error(encoder, exc) from exc
        raise ConfigError(f"smp cannot build {arch} with encoder {encoder!r}: {exc}") from exc
    if local is not None:
        state = _load_state_dict(local)
        try:
            model.encoder.load_state_dict(state)
        except Exception as exc:
            raise WeightsError(f"{local} does not fit encoder {encoder!r}: {str(exc).splitlines()[0]}") from exc
    return model


def _is_download_error(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    hub = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "HfHubHTTPError", "ConnectionError", "ConnectError",
           "MaxRetryError", "Timeout", "ReadTimeout", "ConnectTimeout", "gaierror", "HTTPError", "URLError",
           "ProxyError", "SSLError", "RepositoryNotFoundError", "EntryNotFoundError"}
    return bool(names & hub) or isinstance(exc, OSError)


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

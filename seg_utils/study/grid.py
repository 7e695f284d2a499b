"""The poster's grid and the names the study gives things, each written once.

Who is in which table: Table 1 (encoders) is ISIC 2018 with BCE, U-Net and DeepLabV3+ x VGG19, ResNet50 and
DenseNet121; Table 2 (losses) is BCE vs Log-Cosh Dice for U-Net_RN50 and DeepLabV3+_RN50 on each dataset; the
qualitative panels show U-Net_RN50 and DeepLabV3+_RN50.
"""

from __future__ import annotations

from ..data import AUGMENTS, INTENSITIES
from ..errors import check_choice
from ..model import KEEP_WEIGHTS, LOSSES, MONITORS, POSTER_ENCODERS, SCHEDULES

__all__ = ["DATASET_NAMES", "LOSS_NAMES", "ARCH_NAMES", "ENCODER_NAMES", "GRID_DATASETS", "STUDY_DATASETS",
           "POSTER_ARCHS", "POSTER_ENCODERS", "POSTER_LOSSES", "TABLE1_CONFIGS", "TABLE2_ROWS", "PANEL_MODELS",
           "OPTIONS", "WHOLE_NUMBER_OPTIONS", "OPTION_NAMES", "model_label", "config_name", "poster_grid"]

#: How the poster names each dataset (the test set, for the chest X-rays).
DATASET_NAMES = {"isic2018": "ISIC 2018", "chest_xray": "Montgomery (trained on Shenzhen)",
                 "cbis_ddsm": "CBIS-DDSM masses"}
LOSS_NAMES = {"bce": "BCE", "logcosh_dice": "Log-Cosh Dice"}
ARCH_NAMES = {"unet": "U-Net", "deeplabv3plus": "DeepLabV3+"}
ENCODER_NAMES = {"vgg19": "VGG19", "resnet50": "ResNet50", "densenet121": "DenseNet121"}
_ENCODER_SHORT = {"vgg19": "VGG19", "resnet50": "RN50", "densenet121": "DN121"}
GRID_DATASETS = tuple(DATASET_NAMES)
#: What a dataset notebook may read: the poster's three, and ``folder``, a user's own ``images/`` + ``masks/``
#: (:mod:`seg_utils.data.folder`), on which the poster's grid runs as on ISIC (three encoders, two losses).
STUDY_DATASETS = (*GRID_DATASETS, "folder")

POSTER_ARCHS = ("unet", "deeplabv3plus")
POSTER_LOSSES = ("bce", "logcosh_dice")
#: Table 1: ``(dataset, arch, encoder, loss)`` in the poster's order.
TABLE1_CONFIGS = [("isic2018", a, e, "bce") for a in POSTER_ARCHS for e in POSTER_ENCODERS]
#: Table 2's rows ``(dataset, arch)`` in the poster's order (each with both losses, ResNet50).
TABLE2_ROWS = [("isic2018", "deeplabv3plus"), ("isic2018", "unet"), ("cbis_ddsm", "unet"),
               ("cbis_ddsm", "deeplabv3plus"), ("chest_xray", "unet"), ("chest_xray", "deeplabv3plus")]
#: The two models of the poster's qualitative panels, in column order.
PANEL_MODELS = (("unet", "resnet50"), ("deeplabv3plus", "resnet50"))

#: The data-driven options an ablation ladder may change, with their choices.
OPTIONS = {"intensity": INTENSITIES, "augment": AUGMENTS, "loss": tuple(LOSSES), "schedule": SCHEDULES,
           "epochs": (), "patience": (), "monitor": tuple(MONITORS), "keep_weights": KEEP_WEIGHTS}
#: Options of :data:`OPTIONS` that take a whole number (any, at least 1) rather than one of a list of choices, with
#: how the report names a value (``patience=15``: early stopping that cannot fire within 15 epochs).
WHOLE_NUMBER_OPTIONS = {"epochs": "{} epochs", "patience": "patience {}"}
#: How the report names an option's value.
OPTION_NAMES = {
    ("intensity", "clahe"): "CLAHE", ("intensity", "equalize"): "histogram equalisation",
    ("intensity", "none"): "no intensity normalisation", ("augment", "xray"): "X-ray augmentation",
    ("augment", "flips"): "flip augmentation", ("augment", "none"): "no augmentation",
    ("loss", "bce_dice"): "BCE + Dice loss", ("loss", "bce"): "BCE loss", ("loss", "dice"): "Dice loss",
    ("loss", "logcosh_dice"): "Log-Cosh Dice loss", ("schedule", "cosine"): "cosine LR schedule",
    ("schedule", "constant"): "constant LR",
    ("monitor", "val_dice"): "best epoch by validation Dice", ("monitor", "val_loss"): "best epoch by validation loss",
    ("keep_weights", "last"): "last epoch's weights", ("keep_weights", "best"): "best epoch's weights",
}


def model_label(arch: str, encoder: str) -> str:
    """The poster's name of a model, e.g. ``DeepLabV3+_RN50``."""
    return f"{ARCH_NAMES.get(arch, arch)}_{_ENCODER_SHORT.get(encoder, encoder)}"


def config_name(arch: str, encoder: str, loss: str) -> str:
    """``<arch>-<encoder>-<loss>``, the name a configuration has in the ``configs`` parameter."""
    return f"{arch}-{encoder}-{loss}"


def poster_grid(dataset: str) -> list[tuple[str, str, str]]:
    """The poster's runs of ``dataset`` as ``(arch, encoder, loss)``.

    ISIC 2018: U-Net and DeepLabV3+ with VGG19, ResNet50 and DenseNet121 encoders and BCE (Table 1), plus both
    ResNet50 models with Log-Cosh Dice (Table 2); a user's ``folder`` gets the same grid. Chest X-ray and CBIS-DDSM:
    both ResNet50 models with BCE and Log-Cosh Dice (Table 2).

    Raises:
        ConfigError: ``dataset`` is not one of :data:`GRID_DATASETS`.
    """
    check_choice("dataset", dataset, STUDY_DATASETS)
    if dataset in ("isic2018", "folder"):
        return ([(a, e, "bce") for a in POSTER_ARCHS for e in POSTER_ENCODERS]
                + [(a, "resnet50", "logcosh_dice") for a in POSTER_ARCHS])
    return [(a, "resnet50", loss) for a in POSTER_ARCHS for loss in POSTER_LOSSES]

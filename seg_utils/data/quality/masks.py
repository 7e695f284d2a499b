"""Mask checks: grey values other than 0 and 255, empty masks, masks too small to learn from."""

from __future__ import annotations

from typing import Any

from .integrity import Decoded
from .rules import QualityRules

__all__ = ["mask_findings"]


def mask_findings(i: int, d: Decoded, rules: QualityRules, add: Any) -> None:
    """The checks of one decoded mask: non-binary grey values, empty, small."""
    if d.mask_error is not None:
        return
    if d.off_fraction > 0:
        add(i, "non_binary_mask", f"{d.off_fraction:.2%} of mask pixels are neither 0 nor 255 (limit "
            f"{rules.max_off_fraction:.2%}; JPEG-compressed or anti-aliased?); the loader binarises at >127",
            d.off_fraction > rules.max_off_fraction)
    if d.fg_fraction == 0:
        note = (f" (its values only go up to {d.mask_max}: a 0/1-coded mask? save it as 0/255)"
                if d.mask_max > 0 else "")
        add(i, "empty_mask", f"mask has no pixel above 127{note}", rules.exclude_empty_masks)
    elif d.fg_fraction < rules.min_mask_fraction:
        add(i, "small_mask", f"foreground covers {d.fg_fraction:.3%} of the image (< "
            f"{rules.min_mask_fraction:.3%})", rules.exclude_small_masks)

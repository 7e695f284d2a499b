"""seg_utils: the helper package of the segmentation study."""

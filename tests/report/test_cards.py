"""Model cards (seg_utils.report.cards): written from a run folder's files (every section, with what is missing said),
rewritten where outdated (external results, exports), by the CLI for existing runs, and linked from the report's run
tables."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from fabricate import make_run, runs_table
from seg_utils.cli import main
from seg_utils.data.io import read_json, write_csv, write_json
from seg_utils.report import link_cards, model_card, show_card, update_card, write_model_card
from seg_utils.stats import pooled_dice_ci, run_ci


@pytest.fixture()
def run_dir(tmp_path):
    run = make_run(tmp_path, "chest_xray", "deeplabv3plus", "vgg19", "bce", 0.9)
    ids = pd.read_csv(run / "per_image.csv").image_id.tolist()
    n = len(ids)
    tp, fp, fn = np.arange(10, 10 + n) * 10, np.full(n, 5), np.arange(n) % 4 * 3
    dice = 2 * tp / (2 * tp + fp + fn)
    hd95 = np.where(np.arange(n) == 0, np.nan, np.linspace(1, 4, n))
    write_csv(run / "per_image.csv", pd.DataFrame({
        "image_id": ids, "dice": dice, "iou": dice / (2 - dice), "hd95": hd95,
        "hd95_penalised": np.where(np.isnan(hd95), np.hypot(32, 32), hd95), "tp": tp, "fp": fp, "fn": fn}))
    metrics = read_json(run / "metrics.json")
    metrics.update(n_train=40, n_val=4, n_test=n, weights="best epoch", eval_resolution="original",
                   precision="fp32, nchw", parameters=1234567, device="cpu", notes=["retried after OOM"],
                   model_deviation="DeepLabV3+ with vgg19: smp cannot dilate this encoder (encoder_depth=4)")
    write_json(run / "metrics.json", metrics)
    write_json(run / "environment.json", {"device": "cpu", "processor": "x86_64", "cpu_count": 2,
                                          "packages": {"torch": "2.14.1"}, "git": {"commit": "abc", "dirty": True}})
    return run


def test_card_holds_every_section_with_intervals(run_dir):
    path = write_model_card(run_dir)
    text = path.read_text()
    assert path.name == "model_card.md" and text.startswith("# Model card: DeepLabV3+_VGG19, BCE on Montgomery")
    for section in ("## Task", "## Model", "## Data", "## Protocol", "## Results on the test split (12 images)",
                    "## External validation", "## Exports", "## Training time and hardware",
                    "## Intended use and limits"):
        assert section in text, section
    per_image = pd.read_csv(run_dir / "per_image.csv")
    ci = run_ci(per_image, "dice", n_resamples=10_000)
    assert f"| Dice, mean per image | {ci['mean']:.3f} | [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}] |" in text
    pooled = 2 * per_image.tp.sum() / (2 * per_image.tp.sum() + per_image.fp.sum() + per_image.fn.sum())
    low, high = pooled_dice_ci(per_image)
    assert low <= pooled <= high and f"| Dice, pooled over all test pixels | {pooled:.3f} |" in text
    assert "| HD95 misses (exactly one of prediction and mask empty) | 1 |" in text
    assert "penalised mean" in text and "1,234,567 parameters" in text
    assert "trained from scratch" in text and "Not a medical device" in text
    assert "`image_size=32` (poster: 224)" in text and "`weights=none` (poster: imagenet)" in text
    assert "test masks scored at the original resolution" in text
    assert "smp cannot dilate" in text and "Note: retried after OOM" in text
    assert "40 training, 4 validation (a share of the training split, drawn by patient), 12 test images" in text
    assert "3.0 min" not in text and "0.1 min over 3 epochs" in text  # history.csv: 3 epochs of 1 s
    assert "None made." in text and "None yet." in text and "with uncommitted changes" in text
    assert "processor x86_64, 2 CPUs" in text  # a run recorded before the model name: what it has


def test_card_names_the_processor_the_run_recorded(run_dir):
    """environment.json records the CPU's model name and the ISA torch's kernels use, and the card shows both: 'x86_64'
    does not tell an AVX2 EPYC from an AMX Xeon, whose bf16 runs 2-3x faster."""
    from seg_utils.repro import cpu_name, environment_report

    env = environment_report("cpu")
    assert env["cpu"] == cpu_name() and env["cpu"] and env["cpu_capability"]
    write_json(run_dir / "environment.json", env)
    text = model_card(run_dir)
    assert f"processor {env['cpu']} ({env['cpu_capability']}), {env['cpu_count']} CPUs" in text


def test_card_lists_external_results_and_exports(run_dir):
    ext = run_dir / "external" / "folder-all"
    write_csv(ext / "per_image.csv", pd.DataFrame({"image_id": list("abcd"), "dice": [0.8, 0.9, 0.7, 0.85]}))
    write_json(ext / "metrics.json", {"dataset": "folder", "split": "all", "n_images": 4, "dice_mean": 0.8125,
                                      "dice_pooled": 0.82, "hd95_misses": 0})
    (run_dir / "model.onnx").write_bytes(b"onnx")
    text = model_card(run_dir)
    assert "| folder-all | folder | all | 4 | 0.812 [" in text and "| 0.820 | 0 |" in text
    assert "- `model.onnx`" in text and "model.torchscript.pt" not in text.split("## Exports")[1].split("##")[0]


def test_card_of_an_incomplete_run_says_so(tmp_path, run_dir):
    for name in ("metrics.json", "per_image.csv", "history.csv", "environment.json"):
        (run_dir / name).unlink()
    text = model_card(run_dir)
    assert "**This run is not complete**" in text and "No per_image.csv" in text
    assert "Training time: not recorded" in text
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        model_card(tmp_path)


def test_card_command_writes_cards_for_existing_runs(tmp_path, capsys):
    runs = [make_run(tmp_path, "isic2018", "unet", e, "bce", 0.8) for e in ("resnet50", "vgg19")]
    assert main(["card", "--results", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(r / "model_card.md") for r in sorted(runs)]
    assert main(["card", "--run", str(runs[0])]) == 0


def test_report_links_each_runs_card(tmp_path):
    runs = [make_run(tmp_path, "isic2018", "unet", e, "bce", 0.8) for e in ("resnet50", "vgg19")]
    table = runs_table(runs)
    table.loc[len(table)] = {**table.iloc[0].to_dict(), "run_dir": None}  # a missing run has no card
    linked = link_cards(table, tmp_path)
    assert linked.card.tolist()[:2] == [f'<a href="../runs/isic2018/{r.name}/model_card.md">model card</a>'
                                        for r in runs]
    assert linked.card.iloc[2] == "" and all((r / "model_card.md").is_file() for r in runs)
    assert "card" not in table  # the caller's table is left alone


def _age(path, seconds: float = 60.0) -> None:
    """Set ``path``'s modification time ``seconds`` into the past."""
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))


def test_update_card_rewrites_a_card_only_when_outdated(run_dir):
    card = update_card(run_dir)
    assert card == run_dir / "model_card.md" and "None made." in card.read_text()
    written = card.stat().st_mtime_ns
    assert update_card(run_dir).stat().st_mtime_ns == written  # up to date: left alone
    for name in ("per_image.csv", "history.csv", "spec.json"):  # written before metrics.json: not reported events
        os.utime(run_dir / name)
    assert update_card(run_dir).stat().st_mtime_ns == written
    ext = run_dir / "external" / "folder-all"
    write_csv(ext / "per_image.csv", pd.DataFrame({"image_id": list("abcd"), "dice": [0.8, 0.9, 0.7, 0.85]}))
    write_json(ext / "metrics.json", {"dataset": "folder", "split": "all", "n_images": 4, "dice_mean": 0.8125})
    _age(card)
    assert "| folder-all | folder | all | 4 |" in update_card(run_dir).read_text()
    (run_dir / "model.onnx").write_bytes(b"onnx")
    _age(card)
    assert "- `model.onnx`" in update_card(run_dir).read_text()
    assert "- `model.onnx`" in show_card(run_dir).data


def test_a_card_as_new_as_its_run_is_read_not_rewritten(run_dir):
    """Committed run folders (results/cpu-real) come with their card: same mtime as metrics.json, left as it is."""
    card = run_dir / "model_card.md"
    card.write_text("# Model card: committed\n")
    t = (run_dir / "metrics.json").stat().st_mtime_ns
    os.utime(card, ns=(t, t))
    assert update_card(run_dir).read_text() == "# Model card: committed\n"
    assert "model_card.md" in link_cards(runs_table([run_dir]), run_dir.parents[2]).card.iloc[0]
    assert card.read_text() == "# Model card: committed\n"


def test_link_cards_writes_no_card_for_an_incomplete_run(tmp_path):
    runs = [make_run(tmp_path, "isic2018", "unet", e, "bce", 0.8) for e in ("resnet50", "vgg19")]
    (runs[1] / "metrics.json").unlink()
    linked = link_cards(runs_table(runs), tmp_path)
    assert linked.card.iloc[0].startswith("<a href=") and linked.card.iloc[1] == ""
    assert not (runs[1] / "model_card.md").exists()
    write_model_card(runs[1])  # python -m seg_utils card: an incomplete run's card, linked from then on
    assert link_cards(runs_table(runs), tmp_path).card.iloc[1].startswith("<a href=")

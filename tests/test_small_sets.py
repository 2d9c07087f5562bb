"""Small sets and short runs train well by default: a warmed-up weight average, runs sized in steps,
looks on the clock, the critic's augmentation and class loss, the fast start, and a last line that says when a
model is not ready."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cgan_runtime.contract import ModelSpec  # noqa: E402
from cgan_train.augment import augment  # noqa: E402
from cgan_train.checkpoint import load_checkpoint  # noqa: E402
from cgan_train.config import CLASS_LOSS, FAST_BETAS, FAST_LR, FAST_START_BELOW, SMALL_SET_BELOW, TrainConfig  # noqa: E402
from cgan_train.models import build_models, widen_label_tables  # noqa: E402
from cgan_train.trainer import Looks, Position, ema_decay, final_line, train  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is a folder of scripts
from bench.shapes import make_shapes  # noqa: E402


# --- the weight average -----------------------------------------------------------


def test_the_weight_average_warms_up_then_holds_the_recipes_decay():
    assert ema_decay(0.999, 0) == pytest.approx(0.1)  # the first step all but replaces the initialisation
    decays = [ema_decay(0.999, t) for t in range(20_000)]
    assert all(a <= b for a, b in zip(decays, decays[1:]))
    assert decays[-1] == 0.999 and ema_decay(0.0, 5) == 0.0


def test_after_a_few_hundred_steps_almost_nothing_of_the_initialisation_is_left():
    # The share of the initial weights still in the average: the product of the decays.
    left = 1.0
    for t in range(300):
        left *= ema_decay(0.999, t)
    assert left < 1e-2  # without the warm-up: 0.999**300 = 74%


# --- the run's length -------------------------------------------------------------


def test_a_small_set_trains_the_recipes_steps_and_a_large_one_its_epochs():
    cfg = TrainConfig.for_recipe("conv")
    assert cfg.planned_steps(steps_per_epoch=4) == cfg.min_steps  # 300 images: hundreds of epochs
    assert cfg.planned_steps(steps_per_epoch=937) == cfg.epochs * 937  # MNIST: the recipe's epochs
    assert TrainConfig.for_recipe("conv", max_steps=300).planned_steps(4) == 300


def test_an_explicit_epochs_replaces_the_recipes_length_also_on_resume():
    assert TrainConfig.for_recipe("conv", epochs=150).planned_steps(4) == 600
    resumed = TrainConfig.for_recipe("conv").with_overrides(epochs=10)
    assert resumed.min_steps is None and resumed.planned_steps(4) == 40
    assert TrainConfig.for_recipe("conv").changes_beyond_plan(resumed) == []


# --- looks on the clock -----------------------------------------------------------


def test_looks_are_spaced_to_take_a_tenth_of_the_time_and_the_last_step_is_always_looked_at():
    now = [0.0]
    looks = Looks(n_images=300, planned_steps=100, clock=lambda: now[0])
    assert looks.due(step=4)  # the first epoch
    looks.done(started=-2.0)  # a look of 2 s
    now[0] = 17.0
    assert not looks.due(step=8)  # 2 s of looking against 17 s of training: more than a tenth
    now[0] = 18.0
    assert looks.due(step=12)
    assert looks.due(step=100)


def test_a_small_sets_look_generates_a_few_times_the_set_not_ten_thousand_images():
    assert Looks(300, 10).recalibration_images == 1_200
    assert Looks(60_000, 10).recalibration_images == 10_000


# --- augmentation -----------------------------------------------------------------


def test_augmentation_is_seeded_differentiable_and_a_slice_augments_like_its_part_of_the_batch():
    images = (torch.rand(6, 3, 32, 32) * 2 - 1).requires_grad_()
    once = augment(images, torch.Generator().manual_seed(1), colour=True)
    again = augment(images, torch.Generator().manual_seed(1), colour=True)
    assert torch.equal(once, again) and once.shape == images.shape and not torch.equal(once, images)
    part = augment(images[3:], torch.Generator().manual_seed(1), colour=True, batch=6, part=slice(3, None))
    assert torch.equal(part, once[3:])
    once.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_a_small_set_trains_augmented_with_the_class_loss_under_the_conv_recipe_only():
    conv, edge = TrainConfig.for_recipe("conv"), TrainConfig.for_recipe("edge")
    long_run = 26_000
    small, large = conv.decided_for(300, long_run), conv.decided_for(SMALL_SET_BELOW, long_run)
    assert (small.augment, small.class_loss) == (True, CLASS_LOSS)
    assert (large.augment, large.class_loss) == (False, 0.0)
    assert (edge.decided_for(300, long_run).augment, edge.decided_for(300, long_run).class_loss) == (False, 0.0)
    chosen = TrainConfig.for_recipe("conv", augment=False, class_loss=0.5).decided_for(300, long_run)
    assert (chosen.augment, chosen.class_loss) == (False, 0.5)
    with pytest.raises(ValueError, match="class loss needs the conv"):
        TrainConfig.for_recipe("edge", class_loss=1.0)


def test_resume_keeps_the_runs_decisions_and_refuses_to_switch_them():
    run = TrainConfig.for_recipe("conv", fast_start=True).decided_for(300, 300)
    resumed = TrainConfig.for_recipe("conv").with_decisions_of(run).decided_for(60_000, 26_000)
    assert (resumed.augment, resumed.fast_start, resumed.class_loss) == (True, True, CLASS_LOSS)
    assert run.changes_beyond_plan(run.with_overrides(augment=False)) == ["augment True -> False"]
    assert run.changes_beyond_plan(run.with_overrides(fast_start=False)) == ["fast_start True -> False"]
    assert run.changes_beyond_plan(run.with_overrides(class_loss=0.0)) == [f"class_loss {CLASS_LOSS} -> 0.0"]


def test_runs_written_before_small_data_training_read_as_plain_runs_sized_by_epochs():
    old = {k: v for k, v in TrainConfig.for_recipe("conv").to_dict().items()
           if k not in ("augment", "fast_start", "class_loss", "min_steps")}
    cfg = TrainConfig.from_dict(old)
    assert (cfg.augment, cfg.fast_start, cfg.class_loss, cfg.min_steps) == (False, False, 0.0, None)


# --- the fast start ---------------------------------------------------------------


def test_a_conv_run_planned_below_the_threshold_starts_fast_and_a_long_one_keeps_the_recipe():
    conv = TrainConfig.for_recipe("conv")
    short, long = conv.decided_for(60_000, FAST_START_BELOW - 1), conv.decided_for(60_000, FAST_START_BELOW)
    assert short.fast_start and not long.fast_start
    assert short.adam() == (conv.lr * FAST_LR, FAST_BETAS) and long.adam() == (conv.lr, (conv.beta1, conv.beta2))
    assert not TrainConfig.for_recipe("edge").decided_for(60_000, 300).fast_start
    assert not TrainConfig.for_recipe("conv", fast_start=False).decided_for(60_000, 300).fast_start
    assert not conv.decided_for(300, 300).fast_start  # a small set's critic stays at chance when started fast


def test_the_fast_start_widens_only_the_generators_label_tables():
    torch.manual_seed(0)
    generator = build_models(ModelSpec(arch="conv", image_shape=(3, 32, 32)))[0]
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    widen_label_tables(generator)
    changed = {k for k, v in generator.state_dict().items() if not torch.equal(v, before[k])}
    tables = {f"norms.{i}.{t}.weight" for i in range(len(generator.norms)) for t in ("scale", "shift")}
    assert changed == {"label_emb.weight"} | tables
    assert generator.label_emb.weight.std() > 0.5 > 0.1 > before["label_emb.weight"].std()
    with pytest.raises(ValueError, match="conv generator"):
        widen_label_tables(build_models(ModelSpec(arch="mlp"))[0])


def short_shapes_run(tmp_path: Path, steps: int, **overrides) -> dict:
    """The last checkpoint of a run of `steps` steps on 2 x 64 colour 28x28 shapes (the recipe, or `overrides`)."""
    folder = make_shapes(tmp_path / "shapes", classes=2, per_class=64, size=28)
    train(TrainConfig.for_recipe("conv", max_steps=steps, evaluate=False, data=str(folder), **overrides), tmp_path,
          tmp_path / "run", device="cpu")
    return load_checkpoint(tmp_path / "run" / "last.pt")


def test_a_run_started_fast_records_it_and_trains_at_the_fast_rate(tmp_path):
    ckpt = short_shapes_run(tmp_path, steps=2, fast_start=True)
    assert ckpt["train_config"]["fast_start"] is True
    group, recipe = ckpt["opt_g"]["param_groups"][0], TrainConfig.for_recipe("conv")
    assert (group["lr"], tuple(group["betas"])) == (recipe.lr * FAST_LR, FAST_BETAS)


def test_the_generator_that_export_runs_never_contains_the_augmentation_or_the_critics_class_head(tmp_path):
    ckpt = short_shapes_run(tmp_path, steps=3)
    assert ckpt["train_config"]["augment"] is True and ckpt["train_config"]["class_loss"] == CLASS_LOSS
    assert "classes.weight" in ckpt["discriminator"]  # the critic that learnt the class loss
    fresh, _ = build_models(ModelSpec.from_dict(ckpt["spec"]))
    assert ckpt["generator_ema"].keys() == fresh.state_dict().keys()
    # What export and cgan-gen run (inference_generator) is the plain generator: same images, call after call.
    from cgan_train.checkpoint import inference_generator  # noqa: PLC0415

    generator, spec = inference_generator(ckpt)
    fresh.load_state_dict(ckpt["generator_ema"])
    z, y = torch.randn(4, spec.nz), torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        assert torch.equal(generator(z, y), generator(z, y))
        assert torch.equal(generator(z, y), fresh.eval()(z, y))


# --- the last line ----------------------------------------------------------------


def test_the_last_line_says_a_checkpoint_near_chance_is_not_ready():
    near_chance = Position(best_step=300, best_accuracy=0.4)
    line = final_line(Path("run/best.pt"), near_chance, num_classes=3)
    assert line.startswith("not ready: run/best.pt") and "checkpoint to export" not in line
    good = Position(best_step=300, best_accuracy=0.95)
    assert final_line(Path("run/best.pt"), good, 3).startswith("checkpoint to export: run/best.pt")


def test_without_a_terminal_the_progress_says_the_step_count_and_time_left(capsys):
    from cgan_train.progress import LOG_SECONDS, EpochBar  # noqa: PLC0415

    now = [0.0]
    with EpochBar("steps", total=100, done=0, images_per_step=64, clock=lambda: now[0]) as bar:
        for _ in range(10):
            now[0] += LOG_SECONDS / 10 + 0.01
            bar.step_done()
    lines = capsys.readouterr().out.splitlines()
    assert lines and lines[-1] == "steps 10/100, 11 img/s, about 9 min left"  # 640 images in 60.1 s


def test_the_readmes_own_data_command_trains_a_small_colour_folder(run_cli, tmp_path):
    # The README's command on 3 x 100 colour shapes, cut to 12 steps: the recipe's 4,000 steps take
    # minutes, for a run by hand (python -m bench.shapes, then the README's command).
    from cgan_train.cli import train_main  # noqa: PLC0415

    folder = make_shapes(tmp_path / "shapes", classes=3, per_class=100, size=32)
    result = run_cli(train_main, "cgan-train", "--data", folder, "--image-size", 32, "--out", tmp_path / "run",
                     "--max-steps", 12, "--no-eval", "--device", "cpu")
    torch.set_num_threads(1)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().splitlines()[-1].endswith(f"checkpoint to export: {tmp_path / 'run' / 'last.pt'}")
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["step"] == 12 and ckpt["train_config"]["augment"] is True
    assert ckpt["train_config"]["min_steps"] == TrainConfig.for_recipe("conv").min_steps


@pytest.mark.slow
def test_the_readmes_own_data_command_draws_shapes_its_classifier_names_right(run_cli, tmp_path):
    # The README's command as written, the recipe's whole run (4,000 steps, 12 to 21 minutes on two
    # cores): too long for the README's test command, so CI runs it apart (pytest -m slow).
    from cgan_train.cli import eval_main, train_main  # noqa: PLC0415

    folder = make_shapes(tmp_path / "shapes", classes=3, per_class=100, size=32)
    trained = run_cli(train_main, "cgan-train", "--data", folder, "--image-size", 32, "--out", tmp_path / "run")
    assert trained.exit_code == 0, trained.stderr
    last = trained.stdout.decode().splitlines()[-1]
    assert last.startswith("checkpoint to export: "), last
    checkpoint = last.removeprefix("checkpoint to export: ").split(" (")[0]
    report = tmp_path / "eval.json"
    evaluated = run_cli(eval_main, "cgan-eval", checkpoint, "--json", report)
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(report.read_text())["label_accuracy"] >= 0.9

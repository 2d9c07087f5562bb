"""Models, recipes, checkpoints and the training loop (needs the train extra and real MNIST)."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

torch = pytest.importorskip("torch")

from cgan_runtime.contract import ModelSpec  # noqa: E402
from cgan_runtime.commands.errors import EXIT_USAGE  # noqa: E402
from cgan_train.checkpoint import inference_generator, load_checkpoint, recipe_of, save_checkpoint  # noqa: E402
from cgan_train.cli import train_main  # noqa: E402
from cgan_train.config import TrainConfig  # noqa: E402
from cgan_train.models import NETWORKS, build_models  # noqa: E402
from cgan_train.losses import mode_seeking_penalty  # noqa: E402
from cgan_train.trainer import recalibrate_batchnorm, train, update_ema  # noqa: E402

from support import MNIST_DIR  # noqa: E402

needs_mnist = pytest.mark.skipif(not (MNIST_DIR / "MNIST" / "raw").is_dir(), reason=f"no MNIST at {MNIST_DIR}")


def smoke_config(**overrides) -> TrainConfig:
    """256 images, 4 steps an epoch: fast enough to train several epochs in a test."""
    base = {"epochs": 2, "train_limit": 256, "evaluate": False}
    return TrainConfig.for_recipe("mlp", **{**base, **overrides})


@pytest.mark.parametrize("arch", sorted(NETWORKS))
def test_models_map_noise_and_labels_to_images_and_images_to_logits(arch):
    spec = ModelSpec(arch=arch, nz=7)
    g, d = build_models(spec)
    labels = torch.arange(6) % 10
    images = g(torch.randn(6, spec.nz), labels)
    assert images.shape == (6, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert d(images, labels)[0].shape == (6,)


def test_mlp_generator_has_the_seed_layer_sizes():
    g, d = build_models(ModelSpec(arch="mlp"))
    linears = [(m.in_features, m.out_features) for m in g.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [(110, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
    assert [m.num_features for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)] == [256, 512, 1024]
    d_linears = [(m.in_features, m.out_features) for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert d_linears == [(794, 512), (512, 512), (512, 512), (512, 1)]
    assert [m.p for m in d.modules() if isinstance(m, torch.nn.Dropout)] == [0.4, 0.4]


def test_edge_recipe_trains_the_seed_networks_and_samples_a_weight_average():
    cfg = TrainConfig.for_recipe("edge")
    assert cfg.model_spec().arch == "mlp"
    assert cfg.ema > 0


def test_default_recipe_is_the_shipped_models_conv_pair_with_hinge_loss_and_a_weight_average():
    cfg = TrainConfig.for_recipe()
    assert cfg.recipe == "conv" and cfg.model_spec().arch == "conv"
    assert cfg.loss == "hinge" and cfg.ema > 0


def test_mlp_recipe_is_the_seed_recipe():
    cfg = TrainConfig.for_recipe("mlp")
    assert (cfg.loss, cfg.nz, cfg.batch_size, cfg.lr, cfg.beta1, cfg.beta2, cfg.ema) == (
        "bce", 100, 64, 2e-4, 0.5, 0.999, 0.0
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"epochs": -1}, "epochs must be >= 1"), ({"loss": "wgan"}, "unknown loss"), ({"batch_size": 0}, "batch size"),
     ({"seed": 2**64}, r"seed must be in \[0, 2\*\*64\)")],
)
def test_train_config_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.for_recipe("mlp", **overrides)


@pytest.mark.parametrize("arch", sorted(NETWORKS))
def test_critic_width_widens_the_discriminator_and_leaves_the_generator_alone(arch):
    spec = ModelSpec(arch=arch)
    g_own, d_own = build_models(spec)
    g_wide, d_wide = build_models(spec, critic_width=96)
    first = [m for m in d_wide.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)][0]
    assert (first.out_features if arch == "mlp" else first.out_channels) == 96
    assert sum(p.numel() for p in d_wide.parameters()) != sum(p.numel() for p in d_own.parameters())
    assert g_wide.state_dict().keys() == g_own.state_dict().keys()
    assert all(a.shape == b.shape for a, b in zip(g_wide.state_dict().values(), g_own.state_dict().values()))


def test_runs_written_before_critic_width_existed_read_as_the_networks_own_width():
    old = TrainConfig.for_recipe("conv").to_dict()
    del old["critic_width"]
    assert TrainConfig.from_dict(old).critic_width is None


def test_train_config_refuses_a_critic_width_below_one():
    with pytest.raises(ValueError, match="critic width must be >= 1"):
        TrainConfig.for_recipe("conv", critic_width=0)


def test_weight_average_moves_each_weight_by_one_minus_decay_and_copies_the_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    average = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(5.0)
    before = [p.clone() for p in average.parameters()]
    update_ema(average, model, decay=0.9)
    for old, new, target in zip(before, average.parameters(), model.parameters()):
        torch.testing.assert_close(new, old + 0.1 * (target - old))
    assert torch.equal(average[1].running_mean, model[1].running_mean)


def test_train_config_rejects_unknown_recipe():
    with pytest.raises(ValueError, match="unknown recipe 'gpt'"):
        TrainConfig.for_recipe("gpt")


def test_recalibrate_batchnorm_replaces_stale_statistics_without_touching_the_global_rng():
    spec = ModelSpec(arch="mlp")
    g, _ = build_models(spec)
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    for m in norms:
        m.running_mean.fill_(100.0)
    before = torch.get_rng_state()
    recalibrate_batchnorm(g, spec, torch.device("cpu"), seed=0, batches=4, batch_size=64)
    assert torch.equal(torch.get_rng_state(), before)
    assert not g.training
    assert all(m.running_mean.abs().max() < 10 and m.momentum == 0.1 for m in norms)


def test_mode_seeking_penalty_is_lower_for_a_generator_that_uses_its_noise():
    noise = torch.randn(8, 4)
    varied = noise.repeat(1, 196).view(8, 1, 28, 28)  # images that follow the noise
    same = torch.zeros(8, 1, 28, 28) + torch.randn(1, 1, 28, 28)  # one image whatever the noise
    assert mode_seeking_penalty(varied, noise) < mode_seeking_penalty(same, noise)


def test_checkpoint_round_trip_keeps_weights_and_spec(tmp_path):
    spec = ModelSpec(arch="mlp")
    g, _ = build_models(spec)
    save_checkpoint(tmp_path / "c.pt", {"spec": spec.to_dict(), "generator": g.state_dict(), "step": 3})
    ckpt = load_checkpoint(tmp_path / "c.pt")
    restored, restored_spec = inference_generator(ckpt)
    assert restored_spec == spec and ckpt["step"] == 3
    noise, labels = torch.randn(4, 100), torch.arange(4)
    with torch.no_grad():
        assert torch.equal(restored(noise, labels), g.eval()(noise, labels))


def test_checkpoint_load_refuses_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "text.pt").write_text("hello")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a readable cgan-edge checkpoint"):
        load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(ValueError, match="not a cgan-edge checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_recipe_of_a_checkpoint_names_its_training_recipe():
    assert recipe_of({"train_config": TrainConfig.for_recipe("mlp").to_dict()}) == "mlp"
    assert recipe_of({"train_config": {"arch": "edge"}}) == "edge"  # written before --arch became --recipe
    assert recipe_of({"spec": {}}) == ""


def test_checkpoint_load_never_runs_pickled_code(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickled code ran')",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"format": Boom()}, protocol=2))
    with pytest.raises(ValueError, match="not a readable cgan-edge checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


def test_checkpoint_load_refuses_another_format_version(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {})
    ckpt = torch.load(tmp_path / "c.pt", weights_only=True)
    torch.save({**ckpt, "format_version": 99}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="format version 99"):
        load_checkpoint(tmp_path / "c.pt")


@needs_mnist
def test_train_writes_checkpoints_samples_and_metrics(tmp_path):
    exported = train(smoke_config(), MNIST_DIR, tmp_path, device="cpu")
    # Without scoring there is no "best" epoch: no best.pt, and last.pt is the one to export.
    assert exported == tmp_path / "last.pt" and exported.is_file() and not (tmp_path / "best.pt").exists()
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(r["images_per_s"] > 0 and r["loss_g"] > 0 for r in records)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert (ckpt["epoch"], ckpt["step"]) == (2, 8)
    assert ckpt["train_config"]["recipe"] == "mlp" and ckpt["spec"]["nz"] == 100


def assert_same_state(a: dict, b: dict) -> None:
    for part in ("generator", "discriminator", "opt_g", "opt_d"):
        flat_a, flat_b = _tensors(a[part]), _tensors(b[part])
        assert flat_a.keys() == flat_b.keys()
        for key in flat_a:
            assert torch.equal(flat_a[key], flat_b[key]), f"{part}.{key} differs"


def _tensors(tree, prefix="") -> dict:
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _tensors(sub, f"{prefix}.{key}").items()}
    if isinstance(tree, list | tuple):
        return {k: v for i, sub in enumerate(tree) for k, v in _tensors(sub, f"{prefix}.{i}").items()}
    return {}


@needs_mnist
def test_train_resumed_at_an_epoch_boundary_matches_one_uninterrupted_run(tmp_path):
    train(smoke_config(epochs=3), MNIST_DIR, tmp_path / "once", device="cpu")
    train(smoke_config(epochs=1), MNIST_DIR, tmp_path / "twice", device="cpu")
    train(smoke_config(epochs=3), MNIST_DIR, tmp_path / "twice", device="cpu", resume=True)
    assert_same_state(load_checkpoint(tmp_path / "once" / "last.pt"), load_checkpoint(tmp_path / "twice" / "last.pt"))


@needs_mnist
def test_train_resumed_mid_epoch_matches_one_uninterrupted_run(tmp_path):
    train(smoke_config(epochs=2, max_steps=6), MNIST_DIR, tmp_path / "once", device="cpu")
    train(smoke_config(epochs=2, max_steps=3), MNIST_DIR, tmp_path / "twice", device="cpu")
    train(smoke_config(epochs=2, max_steps=6), MNIST_DIR, tmp_path / "twice", device="cpu", resume=True)
    once, twice = load_checkpoint(tmp_path / "once" / "last.pt"), load_checkpoint(tmp_path / "twice" / "last.pt")
    assert twice["step"] == 6
    assert_same_state(once, twice)


def test_train_resume_without_a_run_names_the_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .*last.pt to resume from"):
        train(smoke_config(), MNIST_DIR, tmp_path, device="cpu", resume=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "-1"], "epochs must be >= 1"),
        (["--recipe", "gpt"], "unknown recipe 'gpt'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--epochs", "many"], "'--epochs'"),
    ],
)
def test_train_cli_bad_arguments_give_one_line_and_exit_2(run_cli, tmp_path, args, message):
    result = run_cli(train_main, "cgan-train", "--data-dir", MNIST_DIR, "--out", tmp_path / "run", *args)
    assert result.exit_code == EXIT_USAGE
    assert len(result.stderr_lines) == 1 and message in result.stderr_lines[0], result.stderr
    assert not (tmp_path / "run").exists()


def test_train_cli_missing_data_names_the_expected_layout(run_cli, tmp_path):
    result = run_cli(train_main, "cgan-train", "--data-dir", tmp_path / "nowhere", "--no-download", "--out", tmp_path)
    assert result.exit_code == EXIT_USAGE
    assert len(result.stderr_lines) == 1
    assert "MNIST not found" in result.stderr and "MNIST/raw" in result.stderr and "Traceback" not in result.stderr

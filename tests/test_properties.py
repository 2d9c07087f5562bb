"""Property-based tests of the runtime's input checks: any input gives the documented output or
the documented exception (ValueError; exit 2 with one line for `cgan-gen`), never anything else."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cgan_runtime.budget import MAX_PICTURE_PIXELS, check_picture
from cgan_runtime.commands.errors import EXIT_USAGE
from cgan_runtime.images import MAX_SIDE
from cgan_runtime.inputs import MAX_THREADS, SEED_LIMIT, as_labels, as_noise, check_seed, check_threads

from support import MANY_CLASSES_MODEL, TINY_MODEL

# database=None: no .hypothesis folder written into the checkout.
FAST = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NAMES = ("red", "green", "blue")

scalars = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=5),
    st.sampled_from(NAMES),
    st.none(),
    st.builds(np.int32, st.integers(-5, 5)),
    st.builds(np.uint8, st.integers(0, 5)),
)
anything = st.one_of(
    scalars,
    st.lists(scalars, max_size=6),
    st.tuples(scalars, scalars),
    st.dictionaries(st.integers(0, 3), scalars, max_size=3),
    st.frozensets(st.integers(0, 3), max_size=3),
    st.sets(st.integers(0, 3), max_size=3),
    hnp.arrays(st.sampled_from([np.int64, np.uint8, np.float32, np.bool_]), hnp.array_shapes(max_dims=2, max_side=4)),
)


@FAST
@given(labels=anything, with_names=st.booleans())
def test_as_labels_gives_in_range_int64_labels_or_value_error(labels, with_names):
    names = NAMES if with_names else ()
    try:
        result = as_labels(labels, 3, names)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert result.dtype == np.int64 and result.ndim == 1 and len(result) >= 1
    assert ((result >= 0) & (result < 3)).all()
    assert not isinstance(labels, (dict, set, frozenset))


@FAST
@given(seed=scalars)
def test_check_seed_gives_the_seed_or_value_error(seed):
    try:
        result = check_seed(seed)
    except ValueError:
        assert not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and 0 <= seed < SEED_LIMIT)
        return
    assert result == seed and 0 <= result < SEED_LIMIT and type(result) is int


@FAST
@given(threads=st.one_of(scalars, st.integers(-10, 10**12)))
def test_check_threads_gives_a_sane_count_or_value_error(threads):
    try:
        result = check_threads(threads)
    except ValueError:
        return
    assert 1 <= result <= MAX_THREADS and result == threads


@FAST
@given(
    noise=hnp.arrays(
        st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.bool_]),
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
    )
)
def test_as_noise_gives_finite_float32_of_the_asked_shape_or_value_error(noise):
    try:
        result = as_noise(noise, count=2, nz=3)
    except ValueError:
        return
    assert result.dtype == np.float32 and result.shape == (2, 3) and np.isfinite(result).all()


@FAST
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=6, max_size=6))
def test_as_noise_never_lets_a_non_finite_value_through(values):
    try:
        result = as_noise(np.array(values).reshape(2, 3), count=2, nz=3)
    except ValueError as exc:
        assert "finite" in str(exc)
        with np.errstate(over="ignore"):
            assert not np.isfinite(np.array(values, dtype=np.float64).astype(np.float32)).all()
        return
    assert np.isfinite(result).all()


@FAST
@given(height=st.integers(1, 10**7), width=st.integers(1, 10**7), image_format=st.sampled_from(sorted(MAX_SIDE)))
def test_check_picture_lets_through_only_pictures_the_format_and_viewers_take(height, width, image_format):
    try:
        check_picture(height, width, image_format)
    except ValueError:
        assert max(height, width) > MAX_SIDE[image_format] or height * width > MAX_PICTURE_PIXELS
        return
    assert max(height, width) <= MAX_SIDE[image_format] and height * width <= MAX_PICTURE_PIXELS


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=anything, seed=st.one_of(st.none(), scalars), batch_size=st.one_of(st.integers(-2, 300), scalars))
def test_generate_gives_uint8_images_or_value_error(generator, labels, seed, batch_size):
    try:
        images = generator.generate(labels, seed, batch_size=batch_size)
    except ValueError:
        return
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
    assert isinstance(batch_size, (int, np.integer)) and batch_size >= 1


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.one_of(st.integers(-3, 40), st.integers(10**4, 10**12)),
    factor=st.one_of(st.integers(-3, 8), st.integers(100, 10**9)),
    threads=st.one_of(st.integers(-3, 64), st.integers(2**31, 2**70)),
)
def test_cgan_gen_counts_scales_and_threads_succeed_or_exit_2_in_one_line(cgan_gen, count, factor, threads):
    result = cgan_gen(
        "--label", "0,9", "-n", count, "--scale", factor, "--threads", threads, "--grid",
        "-o", "/dev/null", "--seed", 0, "--model", TINY_MODEL,
    )
    if result.exit_code == 0:
        assert 1 <= count and 1 <= factor and 1 <= threads <= MAX_THREADS
        return
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert len(result.stderr_lines) == 1 and result.stderr_lines[0].startswith("cgan-gen: error: ")


# The budget: 1,000 classes of 4x4 images (weights outweigh pixels) and 10 of 28x28 (pixels do).
@settings(max_examples=24, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request=st.sampled_from(["grid", "files", "mix-grid", "mix-files", "morph", "morph-grid"]),
    count=st.one_of(st.integers(1, 600), st.integers(10**5, 10**13)),
    factor=st.one_of(st.integers(1, 12), st.integers(100, 10**6)),
    limit=st.integers(1 << 16, 48 << 20),
)
def test_any_request_is_refused_in_one_line_or_fits_in_the_memory_it_said(
    cgan_gen, tmp_path, monkeypatch, request, count, factor, limit
):
    """Counts, frames, classes and scales under any memory limit: one line (exit 2), or a run whose
    allocations (numpy's and Python's, as tracemalloc sees them) stay within the limit."""
    import tracemalloc

    monkeypatch.setattr("cgan_runtime.budget.memory_limit", lambda: limit)
    args = {
        "grid": ["--all-labels", "-n", count, "--grid", "--model", TINY_MODEL],
        "files": ["--label", "0,9", "-n", min(count, 40), "--model", TINY_MODEL],
        "mix-grid": ["--mix", "c1=0.5,c7=0.5", "-n", count, "--grid", "--model", MANY_CLASSES_MODEL],
        "mix-files": ["--mix", "c1=0.5,c7=0.5", "-n", min(count, 40), "--model", MANY_CLASSES_MODEL],
        "morph": ["--morph", "c1:c7", "--frames", count + 1, "-o", tmp_path / "m.gif", "--model", MANY_CLASSES_MODEL],
        "morph-grid": ["--morph", "c1:c7", "--frames", count + 1, "--grid", "--model", MANY_CLASSES_MODEL],
    }[request]
    if "-o" not in args:
        args += ["-o", tmp_path / "x.png"]
    tracemalloc.start()
    try:
        result = cgan_gen(*args, "--scale", factor, "--seed", 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if result.exit_code == 0:
        assert peak <= limit, f"{request} -n {count} --scale {factor}: took {peak:,} bytes, allowed {limit:,}"
        return
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert len(result.stderr_lines) == 1 and result.stderr_lines[0].startswith("cgan-gen: error: ")

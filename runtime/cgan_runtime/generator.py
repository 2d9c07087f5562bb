"""`Generator`: one checked ONNX generator in one onnxruntime session."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .contract import INPUT_LABEL, INPUT_LABEL_WEIGHTS, INPUT_NOISE, KEY_FORMAT_VERSION, OUTPUT_IMAGE, ModelSpec
from .default_model import default_model_path
from .images import to_uint8
from .inputs import as_labels, as_noise, check_int, check_seed, check_threads, new_seed
from .mixing import Weights, as_weights, dominant_labels
from .noise import noise_for_labels
from .providers import (
    ORT_FATAL_ONLY,
    check_cuda_in_use,
    import_onnxruntime,
    prepare_cuda,
    session_providers,
    wants_cuda,
)
from .validate import check_finite, mixing_input, spec_from_session

Labels = int | str | Sequence[int | str] | np.ndarray


class Generator:
    """A cgan-edge generator, checked against the ONNX contract when loaded.

    `model` is a path to an exported `.onnx` file, or None for the model
    shipped with the package. `provider` is "auto" (CUDA when onnxruntime
    offers it, else CPU; warns if CUDA is offered but fails to start), "cpu"
    or "cuda" (fails unless CUDA really runs). `threads` caps onnxruntime's
    intra-op threads, at most 4 per core; None lets it use every core.

    Loading fails with FileNotFoundError for a missing file, ValueError for
    a file that is not ONNX or breaks the contract (its metadata checked
    against the graph, and one tiny run), before anything is generated, and
    ModuleNotFoundError naming the extra to install when onnxruntime is absent.

    Labels are class indices or, as str, class names (`class_names`).

    Determinism: unless `noise` is given, it follows the contract's portable
    noise rule (`cgan_runtime.noise`): the j-th occurrence of label L gets
    noise that depends only on (seed, L, j), the same in Python and in the
    browser. So one (seed, label) pair gives the same image whatever else is
    in the request and whatever the batch size: ``generate([5], seed=0)[0]``
    equals ``generate([3, 5], seed=0)[1]``. Seeds are integers in [0, 2**53).
    `seed=None` draws a fresh seed with `cgan_runtime.new_seed()`; to know
    which, call `new_seed()` yourself and pass what it returns.

    Thread safety: a Generator holds no state that generation changes, and
    onnxruntime's `run` is thread-safe, so threads may share one instance.

    Untrusted files: loading runs the graph once, on two images, and
    onnxruntime allocates whatever the graph asks for. A file that keeps the
    contract but allocates inside its graph takes that memory at load (a
    2.7 KB file has taken 6.8 GB), before any check can refuse it. Load files
    you did not export in a process with a memory limit.
    """

    def __init__(self, model: str | Path | None = None, provider: str = "auto", threads: int | None = None) -> None:
        onnxruntime = import_onnxruntime()  # here: it costs ~0.1 s, which `cgan-gen --help` need not pay

        path = default_model_path() if model is None else Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {path}")
        cuda = wants_cuda(provider, onnxruntime.get_available_providers())
        if cuda:
            prepare_cuda(onnxruntime)
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = check_threads(threads)
        # Nothing from onnxruntime's own log: load and run failures come back as exceptions, which
        # the callers report in one line, and fallbacks are reported below as one clear warning.
        options.log_severity_level = ORT_FATAL_ONLY
        # Between runs onnxruntime's threads wait asleep, not spinning: a spinning pool holds the cores
        # that other work needs (`cgan-gen --dataset`'s encoders, a server's requests, other processes).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=session_providers(cuda))
        except Exception as exc:  # onnxruntime's errors share no base class narrower than Exception
            raise ValueError(f"{path} is not a loadable ONNX model: {exc}") from None
        try:
            self._spec = spec_from_session(session)
            self._can_mix = mixing_input(session, self._spec)
        except ValueError as exc:
            raise ValueError(f"{path} breaks the cgan-edge generator contract: {exc}") from None
        if cuda:
            check_cuda_in_use(provider, session.get_providers(), onnxruntime)
        self._session = session
        self._path = path

    def __repr__(self) -> str:
        return f"Generator({str(self._path)!r}, arch={self._spec.arch!r}, providers={self.providers})"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def num_classes(self) -> int:
        return self._spec.num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._spec.class_names

    @property
    def nz(self) -> int:
        return self._spec.nz

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one generated image."""
        return self._spec.image_shape

    @property
    def providers(self) -> list[str]:
        """The execution providers the session actually uses, preferred first."""
        return self._session.get_providers()

    @property
    def metadata(self) -> dict[str, str]:
        """Every metadata_props entry of the file, provenance included."""
        return dict(self._session.get_modelmeta().custom_metadata_map)

    def generate(
        self, labels: Labels, seed: int | None = None, *, noise: np.ndarray | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """uint8 images [N, H, W] (grey) or [N, H, W, C] (colour, RGB for C == 3), one per label.

        `labels`: an int, a str class name, or a sequence or 1-D array of them
        (not a dict or set). Noise follows the class's determinism rule from
        `seed`, or is given as finite float [N, nz] (any float dtype, cast to
        float32), not both. The session runs `batch_size` images at a time.
        ValueError for any bad argument.
        """
        return to_uint8(self.generate_raw(labels, seed, noise=noise, batch_size=batch_size), self._spec.output_range)

    def generate_raw(
        self, labels: Labels, seed: int | None = None, *, noise: np.ndarray | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """The model's own output, float32 [N, C, H, W] in `spec.output_range`; arguments as `generate`."""
        return self._run(as_labels(labels, self.num_classes, self.class_names), seed, noise, batch_size)

    def _run(
        self, labels: np.ndarray, seed: int | None, noise: np.ndarray | None, batch_size: int,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Run checked int64 labels, and class weights [N, num_classes] if given, on the rule's noise or the caller's."""
        if noise is None:
            noise = noise_for_labels(labels, self.nz, new_seed() if seed is None else check_seed(seed))
        elif seed is not None:
            raise ValueError("pass either seed or noise, not both")
        else:
            noise = as_noise(noise, len(labels), self.nz)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        chunks = []
        for i in range(0, len(labels), batch_size):
            feeds = {INPUT_NOISE: noise[i : i + batch_size], INPUT_LABEL: labels[i : i + batch_size]}
            if weights is not None:
                feeds[INPUT_LABEL_WEIGHTS] = weights[i : i + batch_size]
            chunks.append(self._session.run([OUTPUT_IMAGE], feeds)[0])
        images = np.concatenate(chunks)
        # Files may leave C, H, W dynamic, so this is the first place the output's shape is known.
        if images.shape != (len(labels), *self.image_shape):
            raise ValueError(
                f"model output has shape {images.shape}, expected {(len(labels), *self.image_shape)} from its spec"
            )
        check_finite(images, f"{len(labels)} image(s)")
        return images

    @property
    def can_mix(self) -> bool:
        """Whether the file takes class weights (`label_weights`, contract version 2 on)."""
        return self._can_mix

    def generate_mixed(
        self, weights: Weights, seed: int | None = None, *, noise: np.ndarray | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """uint8 images, one per row of class weights; see `generate_mixed_raw`."""
        raw = self.generate_mixed_raw(weights, seed=seed, noise=noise, batch_size=batch_size)
        return to_uint8(raw, self._spec.output_range)

    def generate_mixed_raw(
        self, weights: Weights, seed: int | None = None, *, noise: np.ndarray | None = None, batch_size: int = 256
    ) -> np.ndarray:
        """float32 [N, C, H, W] conditioned on a mix of classes per image.

        `weights` is {class: weight} for one image (a class by index or, as
        str, by name), a list of those, or a float array [N, num_classes];
        each image's weights are >= 0 and sum to 1 (`mixing.as_weights`).
        Noise follows the determinism rule for each image's heaviest class, so
        one-hot weights give exactly the integer label's image. ValueError for
        a file that cannot mix.
        """
        if not self._can_mix:
            raise ValueError(cannot_mix(self))
        weights = as_weights(weights, self.num_classes, self.class_names)
        return self._run(dominant_labels(weights), seed, noise, batch_size, weights)


def cannot_mix(generator: Generator) -> str:
    """Why `generator` cannot take class weights, and what to do about it."""
    version = generator.metadata.get(KEY_FORMAT_VERSION)
    return (
        f"{generator.path} is a format-version-{version} generator, which cannot mix classes: "
        f"re-export it with cgan-export (cgan-export --upgrade {generator.path})"
    )

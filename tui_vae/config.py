"""What a model is and how it trains: the configs and the registries, torch-free.

One home for every choice a user makes. The CLI's options and their choices,
the Train form's fields and defaults, checkpoint validation and the help texts
all read from here, so adding an architecture or a likelihood is one registry
entry (below) plus the module that builds it: nothing in the CLI, the TUI or
the checkpoint code changes. Importing this module imports no torch; the
entries name their implementation as "module:attribute", imported only when a
model is built.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from tui_vae.datasets import DATASETS, NUM_CLASSES, dataset_problems


@dataclass(frozen=True)
class Choice:
    """One registered option: its name, a line of help, and what implements it."""

    name: str
    help: str
    target: str = ""  # "module:attribute" of the implementation (imported lazily)

    def load(self):
        """The implementation (imports its module: torch, for models and likelihoods)."""
        from importlib import import_module

        module, _, attribute = self.target.partition(":")
        return getattr(import_module(module), attribute)


def _registry(*choices: Choice) -> dict[str, Choice]:
    return {choice.name: choice for choice in choices}


def kind_title(model: dict) -> str:
    """"cVAE" or "VAE" for a listing's model metadata, as the views name them; the
    user's own model (model "user") by the kind it declared (its "kind")."""
    kind = model.get("kind") if model.get("model") == "user" else model.get("model")
    return "cVAE" if kind == "cvae" else "VAE"


# Model kinds: the report's VAE and its conditional variant.
MODEL_KINDS = _registry(
    Choice("vae", "the VAE"),
    Choice("cvae", "the conditional VAE: a one-hot class joins the encoder's and decoder's input"),
)

# Architectures: a builder of the encoder body and the decoder (tui_vae/architectures.py).
ARCHITECTURES = _registry(
    Choice("mlp", "the report's MLP: one hidden layer each side",
           "tui_vae.architectures:MLP"),
    Choice("conv", "convolutional: stride-2 convolutions down, transposed convolutions up",
           "tui_vae.architectures:Conv"),
)

# Likelihoods p(x|z) over pixels in [0, 1] (tui_vae/likelihoods.py).
LIKELIHOODS = _registry(
    Choice("bernoulli", "Bernoulli cross-entropy (the report's; exact for binary pixels)",
           "tui_vae.likelihoods:Bernoulli"),
    Choice("continuous-bernoulli", "continuous Bernoulli: a normalised density on [0, 1] "
                         "(Loaiza-Ganem & Cunningham 2019)",
           "tui_vae.likelihoods:ContinuousBernoulli"),
    Choice("gaussian", "Gaussian with a learned scale per channel (a density on [0, 1])",
           "tui_vae.likelihoods:Gaussian"),
)

LR_SCHEDULES = _registry(
    Choice("cosine", "decays the rate to 0 by the last epoch"),
    Choice("constant", "keeps the rate"),
)

DATASET_CHOICES = {name: Choice(name, spec.title) for name, spec in DATASETS.items()}

IMAGE_CHANNELS = (1, 3)
IMAGE_SIZES = (28, 32, 64)

MAX_WIDTH = 65536  # the widest latent or hidden layer a checkpoint may hold
# The largest z. The views and `eval` handle codes whole: the Latent and Traversal
# views' PCA builds a D x D covariance, the ELBO surgery N x D tables in float64;
# at 65,536 they asked for 32 GiB. At 1,024 they take a few hundred MB at most.
MAX_LATENT = 1024
MAX_HIDDEN_LAYERS = 8  # the most hidden layers `--hidden` may list


def written_plainly(text: str) -> bool:
    """Whether a number's text is ASCII with no underscores: Python's int() and float()
    also read "١" (an Arabic-Indic one) as 1 and "1_0" as 10, which the command's
    other flags refuse."""
    return text.isascii() and "_" not in text


def parse_hidden(text: str) -> tuple[int, ...]:
    """"512,256" -> (512, 256): hidden widths from the image inward; ValueError otherwise."""
    parts = [part.strip() for part in str(text).split(",")]
    try:
        if not written_plainly(str(text)):
            raise ValueError
        widths = tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of widths, "
                         f"such as 400 or 512,256") from None
    if not 1 <= len(widths) <= MAX_HIDDEN_LAYERS:
        raise ValueError(f"give 1 to {MAX_HIDDEN_LAYERS} hidden widths")
    if any(not 1 <= width <= MAX_WIDTH for width in widths):
        raise ValueError(f"hidden widths must be between 1 and {MAX_WIDTH:,}")
    return widths


def hidden_fields(widths: tuple[int, ...]) -> dict:
    """ModelConfig's two hidden fields for `widths`: one width stays the report's form
    (hidden_dim alone, as every older checkpoint), several fill hidden_widths too."""
    widths = tuple(widths)
    return {"hidden_dim": widths[-1], "hidden_widths": widths if len(widths) > 1 else ()}


@dataclass(frozen=True)
class ModelConfig:
    """What a trained model is: its architecture and what it was trained for."""

    model: str = field(default="vae", metadata={"help": "Model kind: vae, or cvae (conditional)",
                                                "choices": MODEL_KINDS})
    arch: str = field(default="mlp", metadata={"help": "Network", "choices": ARCHITECTURES})
    likelihood: str = field(default="bernoulli",
                            metadata={"help": "Likelihood p(x|z)", "choices": LIKELIHOODS})
    # The report's 20; at most MAX_LATENT (checked with the rest in problems(), so a
    # refusal is one line, as the others are).
    latent_dim: int = field(default=20, metadata={"help": "Size of z, 1 to 1,024"})
    hidden_dim: int = field(default=400, metadata={"help": "Hidden width"})
    # Several hidden layers, from the image inward (the MLP's layers, the conv net's
    # dense layers); empty means one layer of hidden_dim, which then equals the last.
    hidden_widths: tuple[int, ...] = field(
        default=(), metadata={"help": "Hidden widths from the image inward, e.g. 400 or 512,256"})
    beta: float = field(default=1.0, metadata={"help": "KL weight; 0 drops the KL term"})
    dataset: str = field(default="mnist", metadata={"help": "Training data",
                                                    "choices": DATASET_CHOICES})
    num_classes: int = NUM_CLASSES  # size of the one-hot condition (cVAE only)
    channels: int = 1  # image channels: 1 grey, 3 colour
    image_size: int = 28  # images are image_size x image_size

    @property
    def conditional(self) -> bool:
        return self.model == "cvae"

    @property
    def widths(self) -> tuple[int, ...]:
        """The hidden layers' widths, from the image inward; the last feeds the latent heads."""
        return tuple(self.hidden_widths) or (self.hidden_dim,)

    @property
    def hidden_text(self) -> str:
        """The hidden widths as the --hidden flag takes them: "400", "512,256"."""
        return ",".join(map(str, self.widths))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def to_dict(self) -> dict:
        """As checkpoint metadata holds it (JSON: the widths as a list)."""
        return {**asdict(self), "hidden_widths": list(self.hidden_widths)}

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """From checkpoint metadata: keys a newer version added take their defaults."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        if isinstance(values.get("hidden_widths"), list):  # JSON has no tuples
            values["hidden_widths"] = tuple(values["hidden_widths"])
        return cls(**values)

    def problems(self) -> list[str]:
        """Why no model could be built from this config (empty when it is fine)."""
        kinds = _wrong_kinds(self, ("latent_dim", "hidden_dim", "num_classes", "channels",
                                    "image_size"), ("beta",))
        if kinds:  # the comparisons below assume numbers (1.0 was one of the channels)
            return kinds
        checks = [
            (self.model not in MODEL_KINDS, f"unknown model {self.model!r} "
                                            f"(known: {', '.join(MODEL_KINDS)})"),
            (self.arch not in ARCHITECTURES, f"unknown architecture {self.arch!r} "
                                             f"(known: {', '.join(ARCHITECTURES)})"),
            (self.likelihood not in LIKELIHOODS, f"unknown likelihood {self.likelihood!r} "
                                                 f"(known: {', '.join(LIKELIHOODS)})"),
            (self.latent_dim < 1 or self.hidden_dim < 1,
             "latent and hidden sizes must be at least 1"),
            (not _widths_fit(self.hidden_widths, self.hidden_dim),
             f"hidden widths must be 2 to {MAX_HIDDEN_LAYERS} whole numbers from 1 to "
             f"{MAX_WIDTH:,}, the last equal to the hidden size"),
            (self.hidden_dim > MAX_WIDTH, f"the hidden size must be at most {MAX_WIDTH:,}"),
            (self.latent_dim > MAX_LATENT, f"the latent size must be at most {MAX_LATENT:,}"),
            (not 0 <= self.beta <= MAX_BETA, f"beta must be a number from 0 to {MAX_BETA:,g}"),
            (0 < self.beta < MIN_POSITIVE, f"beta must be 0 or at least {MIN_POSITIVE:g}"),
            (self.num_classes < 1, "the class count must be at least 1"),
            (self.channels not in IMAGE_CHANNELS, f"images have 1 or 3 channels, not "
                                                  f"{self.channels}"),
            (self.image_size not in IMAGE_SIZES, "the image size must be one of "
                                                 + ", ".join(map(str, IMAGE_SIZES))),
        ]
        found = [message for failed, message in checks if failed]
        # The image shape and classes must be the dataset's (tui_vae/datasets.py).
        return found or dataset_problems(self.dataset, self.model, self.channels,
                                         self.image_size, self.num_classes)


def _wrong_kinds(config, whole: tuple[str, ...], real: tuple[str, ...]) -> list[str]:
    """What a config holds of the wrong kind: `whole` fields must be int (not bool),
    `real` ones int or float."""
    found = [f"{name.replace('_', ' ')} must be a whole number, not {getattr(config, name)!r}"
             for name in whole if type(getattr(config, name)) is not int]
    found += [f"{name.replace('_', ' ')} must be a number, not {getattr(config, name)!r}"
              for name in real if type(getattr(config, name)) not in (int, float)]
    return found


def _widths_fit(widths, hidden_dim: int) -> bool:
    if not widths:
        return True
    return (isinstance(widths, tuple) and 2 <= len(widths) <= MAX_HIDDEN_LAYERS
            and all(type(w) is int and 1 <= w <= MAX_WIDTH for w in widths)
            and widths[-1] == hidden_dim)


# Bounds every run and checkpoint keeps (the CLI's flags and checkpoint validation
# use them): seeds fit torch's generators even as seed * 1,000,003 + epoch.
MAX_SEED = 2**32 - 1
# Every epoch adds a line (~300 bytes) to the checkpoint's history, whose header may
# hold 16 MiB (checkpoints.MAX_HEADER_BYTES): 40,000 epochs stay well inside it.
MAX_EPOCHS = 40_000
MAX_BATCH = 1 << 24
# The largest sampling temperature (z's scale) the CLI and the Python API take: far
# past any use, and well inside float32 (1e200 overflowed z to infinity).
MAX_TEMPERATURE = 100.0
CHECKPOINT_SUFFIX = ".safetensors"  # a checkpoint's file name ends so (checkpoints.SUFFIX)
# A KL weight far past any use; beyond float32's range the step's arithmetic overflows.
MAX_BETA = 1e6
# The least positive learning rate or beta: a training process flushes subnormal
# floats to zero (a 1e-310 rate trained and was saved as 0, which no reader takes).
MIN_POSITIVE = 1e-30


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the model to train and how to train it."""

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = field(default=10, metadata={"help": "Total epochs (a resumed run "
                                                      "continues up to this many)"})
    # Batch 112 and Adam at 3e-3, decayed to 0 over `epochs` by a cosine: on
    # MNIST, 10 epochs reach a given test -ELBO an epoch sooner than batch 128
    # at 2e-3 and end lower (README, Performance).
    batch_size: int = field(default=112, metadata={"help": "Images per step"})
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate"})
    lr_schedule: str = field(default="cosine", metadata={"help": "Learning-rate schedule",
                                                         "choices": LR_SCHEDULES})
    # A fifth of an epoch: at the full rate from the first step, Adam's first
    # steps (each about lr in size, whatever the gradient) silence most of the
    # encoder's units for good; ramped in, most stay in use, and the run ends
    # lower (README, Performance).
    lr_warmup: float = field(default=0.2, metadata={
        "help": "Epochs over which the learning rate rises linearly from 0"})
    kl_warmup: float = field(default=0.0, metadata={"help": "Epochs of linear KL warm-up"})
    # Evaluated and saved: the weights' moving average (tui_vae/averaging.py), which
    # reaches a given test -ELBO on MNIST an epoch sooner (README, Performance).
    average: float = field(default=0.995, metadata={
        "help": "Decay of the weights' moving average, which is evaluated and saved "
                "(0: the live weights)"})
    seed: int = field(default=0, metadata={"help": "Seeds weights, batch order and noise"})
    device: str = "auto"
    data_dir: str | None = None
    out: str | None = None  # checkpoint path; None trains without saving
    log_every: int = 10  # steps between Step events
    eval_batch_size: int = 1000
    # "auto" takes the hand-derived step where it provably applies, else autograd;
    # "autograd" forces the general path (tests compare the two).
    step: str = "auto"

    def problems(self) -> list[str]:
        """Why no run could use these settings (empty when they are fine)."""
        kinds = _wrong_kinds(self, ("epochs", "batch_size", "seed", "log_every",
                                    "eval_batch_size"),
                             ("lr", "lr_warmup", "kl_warmup", "average"))
        if kinds:  # the Python API takes any value: 2.5 images per step sliced nothing
            return self.model.problems() + kinds
        checks = [
            (self.epochs < 1, "epochs must be at least 1"),
            (self.batch_size < 1, "batch size must be at least 1"),
            (not 0 < self.lr < math.inf, "the learning rate must be a positive number"),
            (0 < self.lr < MIN_POSITIVE, f"the learning rate must be at least {MIN_POSITIVE:g}"),
            (self.lr_schedule not in LR_SCHEDULES, f"unknown schedule {self.lr_schedule!r}"),
            (not 0 <= self.lr_warmup < math.inf,
             "learning-rate warm-up must be a finite number of epochs, >= 0"),
            (not 0 <= self.kl_warmup < math.inf,
             "KL warm-up must be a finite number of epochs, >= 0"),
            (not 0 <= self.average < 1, "the average's decay must be in [0, 1)"),
            (self.log_every < 1, "log_every must be at least 1"),
            (self.step not in ("auto", "autograd"), f"unknown step {self.step!r}"),
            (not 0 <= self.seed <= MAX_SEED, f"the seed must be in 0..{MAX_SEED}"),
            (self.epochs > MAX_EPOCHS, f"epochs must be at most {MAX_EPOCHS:,}"),
            (self.batch_size > MAX_BATCH, f"batch size must be at most {MAX_BATCH:,}"),
            # Below 1 the evaluation summed nothing and saved a test loss of 0.
            (not 1 <= self.eval_batch_size <= MAX_BATCH,
             f"the evaluation batch size must be 1 to {MAX_BATCH:,}"),
            (self.out is not None and not str(self.out).endswith(CHECKPOINT_SUFFIX),
             f"the checkpoint must be a {CHECKPOINT_SUFFIX} file (`models` lists only those)"),
        ]
        return self.model.problems() + [message for failed, message in checks if failed]

    def validate(self) -> None:
        """Raise TrainingError naming the first problem (the CLI and the Train form use it)."""
        from tui_vae.errors import TrainingError

        found = self.problems()
        if found:
            raise TrainingError(found[0])

    def training_dict(self) -> dict:
        """The optimisation settings, as stored in checkpoint metadata."""
        keys = ("epochs", "batch_size", "lr", "lr_schedule", "lr_warmup", "kl_warmup",
                "average", "seed")
        return {k: getattr(self, k) for k in keys}


def _field(name: str):
    for config in (ModelConfig, TrainConfig):
        for f in fields(config):
            if f.name == name:
                return f
    raise KeyError(name)


def field_default(name: str):
    """The default of a ModelConfig or TrainConfig field, by name."""
    return _field(name).default


def field_help(name: str) -> str:
    """The help line of a setting with its default: "Size of z [default: 20]."."""
    f = _field(name)
    text = f.metadata.get("help", name.replace("_", " "))
    shown = f"{f.default:g}" if isinstance(f.default, float) else f.default
    return f"{text} [default: {shown}]."


def field_choices(name: str) -> dict[str, Choice]:
    """The registry a setting chooses from ({} for a free value)."""
    return _field(name).metadata.get("choices", {})


def choices_help(registry: dict[str, Choice]) -> str:
    """"name: help; name: help" for an option's help text."""
    return "; ".join(f"{c.name}: {c.help}" for c in registry.values())

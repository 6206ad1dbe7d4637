"""Hyperparameters as frozen dataclasses, validated on construction."""
from __future__ import annotations

from dataclasses import dataclass, fields

from models.errors import InvalidParameter
from models.model_types import DEFAULT, HEADS, model_type, names_where

KINDS = ("rnn", "lstm", "gru")  # the recurrent kinds (params key `kind`); a cell is a named configuration
ACTIVATIONS = ("tanh", "relu", "linear")
ATTENTIONS = ("dot", "additive")
INITS = ("torch", "keras")
SCHEDULES = ("constant", "cosine_decay")


def from_mapping(cls, values: dict, where: str):
    """Build a dataclass from a params.yaml section, naming unknown keys instead of a TypeError."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidParameter(
            f"{where} has unknown key(s) {', '.join(unknown)}; allowed keys are {', '.join(sorted(known))}."
        )
    return cls(**values)


def _either(names: list[str]) -> str:
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidParameter(message)


@dataclass(frozen=True)
class NetworkConfig:
    kind: str = "lstm"  # the recurrent kind: rnn | lstm | gru
    input_size: int = 1
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0  # between stacked layers and before the head, as Keras Dropout after each layer
    activation: str = "tanh"  # vanilla rnn only: torch's nn.RNN has tanh/relu, "linear" is our own recurrence
    bidirectional: bool = False
    output_size: int = 1
    # Cap on the spectral norm of a linear recurrence's weight: <= 1 means h_t cannot blow up over 500 steps.
    recurrent_max_norm: float | None = None
    recurrent_init_scale: float = 1.0  # orthogonal init times this; < 1 starts the recurrence contractive
    task: str = DEFAULT  # what the cell learns: an entry of models.model_types
    horizon: int = 1  # steps forecast from each window (one_step: 1)
    head: str = "point"  # point: MSE on the value; gaussian: mean and variance, Gaussian NLL
    attention: str = "dot"  # task attention only: dot (Luong, projected) or additive (Bahdanau) scores
    # additive only: the width of its scoring layer tanh(W k + U q) (Bahdanau's n'), null = hidden_size. That
    # layer is a (batch, window, width) tensor at every decoder step: most of such a cell's training time
    attention_size: int | None = None
    scheduled_sampling: float = 0.0  # decoder tasks: chance of feeding back its own forecast, reached by the last epoch
    # decoder tasks: the last `future_inputs` input columns are known in advance (a calendar), and each decoder
    # step reads those of the session it forecasts (models.windows: `ahead`). Follows the data, as input_size
    future_inputs: int = 0
    # keras: orthogonal recurrent weights, Glorot input/head weights, zero biases, LSTM forget-gate bias 1
    init: str = "torch"

    def __post_init__(self):
        _check(self.init in INITS, f"init must be one of {', '.join(INITS)}, got {self.init!r}.")
        _check(self.kind in KINDS, f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        _check(
            self.activation in ACTIVATIONS,
            f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}.",
        )
        _check(
            self.kind == "rnn" or self.activation == "tanh",
            f"activation {self.activation!r} applies to the vanilla rnn kind only; "
            f"LSTM/GRU have fixed gates (leave activation at tanh).",
        )
        for name in ("input_size", "hidden_size", "num_layers", "output_size"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0, f"{name} must be a positive integer, got {value!r}.")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout!r}.")
        _check(
            self.recurrent_max_norm is None or self.recurrent_max_norm > 0,
            f"recurrent_max_norm must be positive or null, got {self.recurrent_max_norm!r}.",
        )
        _check(
            not (self.bidirectional and self.activation == "linear"),
            "the linear recurrence is one-directional; set bidirectional: false or activation: tanh.",
        )
        self._check_task()

    def _check_task(self) -> None:
        """What the cell's model type (models.model_types) allows of horizon, head, direction and inputs."""
        mtype = model_type(self.task)
        _check(isinstance(self.horizon, int) and self.horizon > 0,
               f"horizon must be a positive integer, got {self.horizon!r}.")
        _check(mtype.multi_step or self.horizon == 1,
               f"task {self.task} forecasts one step but horizon is {self.horizon}; set horizon: 1 or choose task "
               f"{_either(names_where(lambda k: k.multi_step))}.")
        _check(self.head in HEADS, f"head must be one of {', '.join(HEADS)}, got {self.head!r}.")
        _check(self.head in mtype.heads, f"task {self.task} has head {' | '.join(mtype.heads)}, not {self.head!r}; "
               f"change head.")
        _check(self.attention in ATTENTIONS,
               f"attention must be one of {', '.join(ATTENTIONS)}, got {self.attention!r}.")
        _check(self.attention_size is None or (isinstance(self.attention_size, int) and self.attention_size > 0),
               f"attention_size must be a positive integer or null, got {self.attention_size!r}.")
        _check(self.attention_size is None or (self.task == "attention" and self.attention == "additive"),
               f"attention_size sizes additive attention's scoring layer, but this cell is task {self.task} with "
               f"attention {self.attention}; remove attention_size or set task: attention and attention: additive.")
        _check(0.0 <= self.scheduled_sampling <= 1.0,
               f"scheduled_sampling must be in [0, 1], got {self.scheduled_sampling!r}.")
        decoders = names_where(lambda k: k.decoder)
        _check(self.scheduled_sampling == 0 or mtype.decoder,
               f"scheduled_sampling applies to the decoder tasks ({', '.join(decoders)}), not {self.task!r}; "
               f"set it to 0.")
        _check(isinstance(self.future_inputs, int) and 0 <= self.future_inputs < max(self.input_size, 1),
               f"future_inputs must be an integer from 0 to input_size - 1, got {self.future_inputs!r}.")
        _check(self.future_inputs == 0 or mtype.decoder,
               f"future_inputs feeds each decoder step its own session's covariates: decoder tasks only "
               f"({', '.join(decoders)}), not {self.task!r}.")
        _check(not (self.bidirectional and mtype.one_way),
               f"task {self.task} {mtype.one_way}; set bidirectional: false (or use "
               f"{_either(names_where(lambda k: not k.one_way))}, which may read the window both ways).")
        _check(not mtype.single_feature or self.input_size == 1,
               f"task {self.task} {mtype.single_feature}, so the series must be its only feature "
               f"(input_size 1, got {self.input_size}).")

    @property
    def multi_step(self) -> bool:
        """True for every net of models.forecasters (anything but the reference recipes' point one-step)."""
        return not (model_type(self.task).reference_point and self.head == "point")

    def __setstate__(self, state: dict) -> None:
        """A network pickled before `cell` was renamed `kind` (an MLflow model) unpickles with its kind, not
        the default one."""
        object.__setattr__(self, "__dict__", saved_fields(state))


# Keys a saved network config (weights/config.json, a pickle) may hold under an older name: old name -> new.
RENAMED_FIELDS = {"cell": "kind"}


def saved_fields(values: dict) -> dict:
    """A saved NetworkConfig's fields under today's names (a model written before a rename still loads)."""
    return {RENAMED_FIELDS.get(key, key): value for key, value in values.items()}


def saved_network(values: dict) -> NetworkConfig:
    """The NetworkConfig of a saved model folder's config.json "net"."""
    return NetworkConfig(**saved_fields(values))


@dataclass(frozen=True)
class Tbptt:
    """Truncated BPTT(k1, k2): an update every k1 steps, each backpropagated through the last k2 steps."""

    k1: int
    k2: int | None = None  # null: k2 = k1 (the common case: chunks of k1, state detached between them)
    # Chance that a stream starts a block from a zero state instead of the carried one. Generation and
    # windowed scoring start from zero; a model that only ever met carried states can fall apart there
    # (an LSTM(512) on Tiny Shakespeare wrote "$3XQ$$..." after "ROMEO:" while scoring 1.95 nats).
    reset: float = 0.0

    def __post_init__(self):
        _check(isinstance(self.k1, int) and self.k1 > 0, f"tbptt.k1 must be a positive integer, got {self.k1!r}.")
        if self.k2 is None:
            object.__setattr__(self, "k2", self.k1)
        _check(isinstance(self.k2, int) and self.k2 >= self.k1 and self.k2 % self.k1 == 0,
               f"tbptt.k2 must be a multiple of k1 and at least k1 ({self.k1}), got {self.k2!r}.")
        _check(isinstance(self.reset, (int, float)) and 0 <= self.reset < 1,
               f"tbptt.reset is a probability in [0, 1), got {self.reset!r}.")


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip: float | None = 1.0  # gradient-norm clipping; null turns it off
    patience: int | None = None  # stop after this many epochs without a lower validation loss; null: never
    keep_best: bool = False  # end with the weights of the epoch with the lowest validation loss, not the last
    tbptt: Tbptt | None = None  # {k1, k2}: truncated BPTT over long streams (stateful formulations only)
    lr_schedule: str = "constant"  # cosine_decay: lr falls from lr to 0 over all epochs (per update)

    def __post_init__(self):
        if isinstance(self.tbptt, dict):
            object.__setattr__(self, "tbptt", from_mapping(Tbptt, self.tbptt, "tbptt"))
        _check(self.tbptt is None or isinstance(self.tbptt, Tbptt),
               f"tbptt must be a mapping {{k1: N, k2: M}} or null, got {self.tbptt!r}.")
        _check(self.lr_schedule in SCHEDULES,
               f"lr_schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}.")
        _check(isinstance(self.epochs, int) and self.epochs > 0,
               f"epochs must be a positive integer, got {self.epochs!r}.")
        _check(
            isinstance(self.batch_size, int) and self.batch_size > 0,
            f"batch_size must be a positive integer, got {self.batch_size!r}.",
        )
        _check(self.lr > 0, f"lr must be positive, got {self.lr!r}.")
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay!r}.")
        _check(self.clip is None or self.clip > 0, f"clip must be positive or null, got {self.clip!r}.")
        _check(self.patience is None or (isinstance(self.patience, int) and self.patience > 0),
               f"patience must be a positive integer or null, got {self.patience!r}.")


def stability_note(net: NetworkConfig, optim: OptimConfig) -> str | None:
    """What keeps a linear recurrence from exploding over hundreds of steps (the reference recipe diverges in Keras)."""
    if net.kind != "rnn" or net.activation != "linear":
        return None
    guards = [f"spectral norm of W_hh capped at {net.recurrent_max_norm}" if net.recurrent_max_norm
              else "NO cap on W_hh (recurrent_max_norm: null), so h_t may grow without bound",
              f"gradient norm clipped at {optim.clip}" if optim.clip else "no gradient clipping",
              "orthogonal W_hh / Glorot W_ih initialisation"
              + (f" scaled by {net.recurrent_init_scale}" if net.recurrent_init_scale != 1 else "")]
    return "linear RNN kept stable by: " + "; ".join(guards)

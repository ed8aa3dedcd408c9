from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import pytest
import yaml

from tempssl.config import (
    ConfigError,
    from_dict,
    load_config,
    merge,
    parse_overrides,
    save_config,
    to_dict,
)
from tempssl.registry import Registry

METHODS: Registry[object] = Registry("method")
for _name in ("tcn", "moco", "simclr"):
    METHODS.register(_name, object())


# A small schema in the shape of the real one, exercising every supported annotation.
@dataclass
class Data:
    root: str | None = None
    size: tuple[int, int] = (224, 224)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    extensions: list[str] = field(default_factory=lambda: [".mp4", ".avi"])
    class_names: Optional[dict[str, int]] = None  # noqa: UP045 (typing.Optional must work too)
    cache: Path = Path("/tmp/cache")


@dataclass
class Method:
    name: str = field(default="tcn", metadata={"choices": lambda: METHODS})
    temperature: float = 0.1
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Optim:
    name: Literal["sgd", "adamw"] = "adamw"
    lr: float = field(default=1e-3, metadata={"check": lambda v: v > 0, "help": "must be > 0"})
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine", "step"] | None = None


@dataclass
class Trainer:
    epochs: int = 100
    amp: bool = True
    log_every: int = 50
    seed: int | str = 0


@dataclass
class Eval:
    metrics: list[str] = field(default_factory=lambda: ["knn"], metadata={"choices": ["knn", "linear"]})
    head: Optional[Method] = None  # noqa: UP045


@dataclass
class Config:
    data: Data = field(default_factory=Data)
    method: Method = field(default_factory=Method)
    optim: Optim = field(default_factory=Optim)
    trainer: Trainer = field(default_factory=Trainer)
    eval: Eval = field(default_factory=Eval)


@dataclass
class Required:
    root: str
    epochs: int = 1


def error(data: dict, cls: type = Config) -> str:
    with pytest.raises(ConfigError) as info:
        from_dict(cls, data)
    return str(info.value)


# from_dict: building and coercion


def test_defaults_from_empty_mapping():
    assert from_dict(Config, {}) == Config()


def test_nested_sections_and_coercions():
    cfg = from_dict(
        Config,
        {
            "data": {"root": "/videos", "size": [112, 128], "mean": [0, 0.5], "class_names": {"a": 0}},
            "method": {"name": "moco", "temperature": 1, "options": {"queue": 4096, "k": [1, 2]}},
            "optim": {"lr": 3, "betas": [0.9, 0.95], "schedule": "cosine"},
            "trainer": {"epochs": 5, "amp": False, "seed": "random"},
            "eval": {"head": {"name": "simclr"}},
        },
    )
    assert cfg.data.root == "/videos" and cfg.data.size == (112, 128)
    assert cfg.data.mean == (0.0, 0.5) and all(isinstance(v, float) for v in cfg.data.mean)
    assert cfg.data.class_names == {"a": 0}
    assert cfg.method.temperature == 1.0 and isinstance(cfg.method.temperature, float)
    assert cfg.method.options == {"queue": 4096, "k": [1, 2]}
    assert cfg.optim.lr == 3.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == (0.9, 0.95) and cfg.optim.schedule == "cosine"
    assert cfg.trainer == Trainer(epochs=5, amp=False, log_every=50, seed="random")
    assert cfg.eval.head == Method(name="simclr")
    assert cfg.data.extensions == [".mp4", ".avi"]  # untouched default


def test_optional_accepts_none():
    cfg = from_dict(Config, {"data": {"root": None, "class_names": None}, "optim": {"schedule": None}})
    assert cfg.data.root is None and cfg.data.class_names is None and cfg.optim.schedule is None


def test_path_from_string():
    assert from_dict(Data, {"cache": "/x/y"}).cache == Path("/x/y")


def test_dataclass_instance_is_accepted_as_is():
    head = Method(name="moco")
    assert from_dict(Eval, {"head": head}).head is head


@pytest.mark.parametrize(
    ("data", "key", "expected", "got"),
    [
        ({"optim": {"lr": "fast"}}, "optim.lr", "float", "'fast' (str)"),
        ({"optim": {"lr": True}}, "optim.lr", "float", "True (bool)"),
        ({"trainer": {"epochs": True}}, "trainer.epochs", "int", "True (bool)"),
        ({"trainer": {"epochs": "5"}}, "trainer.epochs", "int", "'5' (str)"),
        ({"trainer": {"epochs": 5.0}}, "trainer.epochs", "int", "5.0 (float)"),
        ({"trainer": {"epochs": None}}, "trainer.epochs", "int", "null"),
        ({"trainer": None}, "trainer", "a mapping (Trainer)", "null"),
        ({"trainer": {"amp": 1}}, "trainer.amp", "bool", "1 (int)"),
        ({"trainer": {"amp": "yes"}}, "trainer.amp", "bool", "'yes' (str)"),
        ({"trainer": {"seed": 1.5}}, "trainer.seed", "int | str", "1.5 (float)"),
        ({"data": {"root": 3}}, "data.root", "str | null", "3 (int)"),
        ({"data": {"extensions": ".mp4"}}, "data.extensions", "list[str]", "'.mp4' (str)"),
        ({"data": {"extensions": [".mp4", 4]}}, "data.extensions[1]", "str", "4 (int)"),
        ({"data": {"mean": [0.5, "x"]}}, "data.mean[1]", "float", "'x' (str)"),
        ({"data": {"size": {"h": 1}}}, "data.size", "tuple[int, int]", "{'h': 1} (dict)"),
        ({"data": {"size": [1, 2.5]}}, "data.size[1]", "int", "2.5 (float)"),
        ({"data": {"class_names": {"a": "b"}}}, "data.class_names.a", "int", "'b' (str)"),
        ({"data": {"class_names": [1]}}, "data.class_names", "dict[str, int] | null", "[1] (list)"),
        ({"data": {"cache": 5}}, "data.cache", "Path", "5 (int)"),
        ({"method": {"options": []}}, "method.options", "dict[str, Any]", "[] (list)"),
        ({"eval": {"head": 5}}, "eval.head", "a mapping (Method) | null", "5 (int)"),
    ],
)
def test_wrong_types_name_key_expected_and_received(data, key, expected, got):
    assert error(data) == f"config key '{key}': expected {expected}, got {got}"


def test_fixed_tuple_length():
    assert error({"data": {"size": [1, 2, 3]}}) == (
        "config key 'data.size': expected tuple[int, int] (2 items), got [1, 2, 3] (list)"
    )


def test_non_string_dict_keys():
    assert error({"data": {"class_names": {1: 0}}}) == (
        "config key 'data.class_names.1': keys must be strings, got 1 (int)"
    )


def test_section_must_be_a_mapping():
    assert error({"trainer": 5}) == "config key 'trainer': expected a mapping (Trainer), got 5 (int)"
    assert error([1], Trainer) == "config: expected a mapping of Trainer fields, got [1] (list)"


def test_long_values_are_shortened():
    message = error({"trainer": {"epochs": "x" * 500}})
    assert len(message) < 120 and message.endswith("... (str)")


# from_dict: unknown and missing keys


def test_unknown_key_suggests_and_lists_valid_keys():
    assert error({"trainer": {"epochz": 5}}) == (
        "config key 'trainer.epochz': unknown key; did you mean 'epochs'? "
        "valid keys: amp, epochs, log_every, seed"
    )


def test_unknown_top_level_section():
    assert error({"zzz": {}}) == (
        "config key 'zzz': unknown key; valid keys: data, eval, method, optim, trainer"
    )
    assert "did you mean 'optim'?" in error({"optimizer": {}})


def test_unknown_key_in_nested_optional_dataclass():
    assert error({"eval": {"head": {"nam": "tcn"}}}) == (
        "config key 'eval.head.nam': unknown key; did you mean 'name'? "
        "valid keys: name, options, temperature"
    )


def test_required_key_missing():
    assert error({"epochs": 2}, Required) == "config key 'root': required key is missing"
    assert from_dict(Required, {"root": "/r"}) == Required(root="/r", epochs=1)


def test_where_prefixes_keys():
    with pytest.raises(ConfigError, match=r"^config key 'a\.b\.root': required key is missing$"):
        from_dict(Required, {}, where="a.b")


@dataclass
class Window:
    lo: int = 0
    hi: int = 1

    def __post_init__(self):
        if self.lo >= self.hi:
            raise ValueError(f"lo ({self.lo}) must be below hi ({self.hi})")


@dataclass
class Outer:
    window: Window = field(default_factory=Window)


def test_post_init_value_errors_name_the_section():
    with pytest.raises(ConfigError, match=r"^config key 'window': lo \(3\) must be below hi \(1\)$"):
        from_dict(Outer, {"window": {"lo": 3}})


def test_not_a_dataclass_is_a_programming_error():
    with pytest.raises(TypeError):
        from_dict(dict, {})


def test_config_error_is_a_value_error_with_key():
    with pytest.raises(ValueError) as info:
        from_dict(Config, {"optim": {"lr": "fast"}})
    assert info.value.key == "optim.lr"


# from_dict: choices and checks


def test_literal_choices_with_did_you_mean():
    assert error({"optim": {"name": "adamv"}}) == (
        "config key 'optim.name': expected one of 'sgd', 'adamw', got 'adamv' (str) "
        "(did you mean 'adamw'?)"
    )


def test_literal_without_close_match_and_wrong_type():
    assert error({"optim": {"name": "zzz"}}) == (
        "config key 'optim.name': expected one of 'sgd', 'adamw', got 'zzz' (str)"
    )
    assert error({"optim": {"name": 1}}) == (
        "config key 'optim.name': expected one of 'sgd', 'adamw', got 1 (int)"
    )


def test_optional_literal_keeps_did_you_mean():
    assert error({"optim": {"schedule": "cosin"}}) == (
        "config key 'optim.schedule': expected one of 'cosine', 'step', null, got 'cosin' (str) "
        "(did you mean 'cosine'?)"
    )


def test_literal_does_not_confuse_bool_and_int():
    @dataclass
    class Flags:
        level: Literal[0, 1] = 0

    assert from_dict(Flags, {"level": 1}).level == 1
    assert "got True (bool)" in error({"level": True}, Flags)


def test_registry_backed_choices():
    assert error({"method": {"name": "tcm"}}) == (
        "config key 'method.name': expected one of 'moco', 'simclr', 'tcn', got 'tcm' (str) "
        "(did you mean 'tcn'?)"
    )
    assert error({"eval": {"head": {"name": "mocco"}}}).startswith("config key 'eval.head.name':")


def test_registry_choices_are_read_at_load_time():
    METHODS.register("byol_late", object())
    try:
        assert from_dict(Method, {"name": "byol_late"}).name == "byol_late"
    finally:
        METHODS._entries.pop("byol_late")


def test_registry_instance_and_plain_callable_as_choices():
    @dataclass
    class Direct:
        a: str = field(default="tcn", metadata={"choices": METHODS})
        b: str = field(default="x", metadata={"choices": lambda: ["x", "y"]})

    assert from_dict(Direct, {"a": "moco", "b": "y"}) == Direct("moco", "y")
    assert "did you mean 'simclr'?" in error({"a": "simclr2"}, Direct)
    assert error({"b": "z"}, Direct) == "config key 'b': expected one of 'x', 'y', got 'z' (str)"


def test_choices_apply_to_each_list_item():
    assert from_dict(Eval, {"metrics": ["knn", "linear"]}).metrics == ["knn", "linear"]
    assert error({"eval": {"metrics": ["knn", "linaer"]}}) == (
        "config key 'eval.metrics[1]': expected one of 'knn', 'linear', got 'linaer' (str) "
        "(did you mean 'linear'?)"
    )


def test_check_metadata():
    assert error({"optim": {"lr": -1}}) == "config key 'optim.lr': must be > 0, got -1.0 (float)"

    @dataclass
    class NoHelp:
        n: int = field(default=1, metadata={"check": lambda v: v % 2 == 1})

    assert error({"n": 2}, NoHelp) == "config key 'n': failed its check, got 2 (int)"


# parse_overrides and merge


def test_parse_overrides_values():
    assert parse_overrides(
        [
            "trainer.epochs=5",
            "optim.lr=1e-3",
            "optim.betas=[0.9,0.95]",
            "trainer.amp=false",
            "data.root=null",
            "method.name=moco",
            "method.options.queue=4096",
            "top=1",
        ]
    ) == {
        "trainer": {"epochs": 5, "amp": False},
        "optim": {"lr": 0.001, "betas": [0.9, 0.95]},
        "data": {"root": None},
        "method": {"name": "moco", "options": {"queue": 4096}},
        "top": 1,
    }


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("data.root=/a=b", "/a=b"),  # only the first '=' separates
        ("data.root=", ""),
        ("data.root=[1, 2", "[1, 2"),  # not valid YAML: kept as written
        ("data.root='5'", "5"),  # quoted: a string
        ("data.root=2024-01-01", "2024-01-01"),  # not a date object
        ("data.root=hello world", "hello world"),
    ],
)
def test_parse_overrides_strings(item, value):
    assert parse_overrides([item]) == {"data": {"root": value}}


def test_later_override_wins():
    assert parse_overrides(["a.b=1", "a.b=2", "a.c=3"]) == {"a": {"b": 2, "c": 3}}


@pytest.mark.parametrize("item", ["trainer.epochs", "=5", "trainer..epochs=5", "trainer.=5", ""])
def test_malformed_override(item):
    with pytest.raises(ConfigError, match=r"expected key\.sub=value \(e\.g\. trainer\.epochs=5"):
        parse_overrides([item])


def test_merge_is_deep_and_copies():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    override = {"a": {"y": [3], "z": {"k": 1}}, "c": None}
    merged = merge(base, override)
    assert merged == {"a": {"x": 1, "y": [3], "z": {"k": 1}}, "b": 1, "c": None}
    merged["a"]["x"] = 99
    merged["a"]["z"]["k"] = 99
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    assert override["a"]["z"] == {"k": 1}


def test_merge_replaces_mapping_with_scalar_and_back():
    assert merge({"a": {"x": 1}}, {"a": None}) == {"a": None}
    assert merge({"a": None}, {"a": {"x": 1}}) == {"a": {"x": 1}}


# load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_yaml_with_overrides(tmp_path):
    path = write(
        tmp_path / "tcn.yaml",
        "trainer:\n  epochs: 10\noptim:\n  lr: 1e-4\n  betas: [0.8, 0.9]\nmethod:\n  name: tcn\n",
    )
    cfg = load_config(Config, path, ["trainer.epochs=5", "method.name=moco", "data.root=/a=b"])
    assert cfg.trainer.epochs == 5 and cfg.method.name == "moco" and cfg.data.root == "/a=b"
    assert cfg.optim.lr == pytest.approx(1e-4)  # `1e-4` is a float, not YAML 1.1's string
    assert cfg.optim.betas == (0.8, 0.9)


def test_load_without_file_uses_defaults_and_overrides():
    assert load_config(Config, None) == Config()
    assert load_config(Config, None, ["optim.lr=0.5"]).optim.lr == 0.5


def test_empty_file_is_all_defaults(tmp_path):
    assert load_config(Config, write(tmp_path / "empty.yaml", "# nothing\n")) == Config()


def test_unknown_key_in_override(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(Config, None, ["trainer.epochz=5"])
    assert str(info.value).startswith("config key 'trainer.epochz': unknown key; did you mean 'epochs'?")


def test_wrong_type_in_file(tmp_path):
    path = write(tmp_path / "bad.yaml", "optim:\n  lr: fast\n")
    with pytest.raises(
        ConfigError, match=r"^config key 'optim\.lr': expected float, got 'fast' \(str\)$"
    ):
        load_config(Config, path)


def test_override_null_clears_optional(tmp_path):
    path = write(tmp_path / "a.yaml", "data:\n  root: /videos\n")
    assert load_config(Config, path, ["data.root=null"]).data.root is None


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"^config file not found: {re.escape(str(missing))}$"):
        load_config(Config, missing)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path / "broken.yaml", "trainer:\n  epochs: 5\n  lr: [1, 2\noptim:\n  lr: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(Config, path)
    message = str(info.value)
    assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: invalid YAML: ", message), message
    line = int(message[len(str(path)) + 1 :].split(":")[0])
    assert 3 <= line <= 5  # the unclosed list starts on line 3, PyYAML notices a bit later
    assert message.endswith("(while parsing a flow sequence at line 3)")

    tab = write(tmp_path / "tab.yaml", "trainer:\n\tepochs: 5\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(tab))}:2:1: invalid YAML: "):
        load_config(Config, tab)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "5\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    path = write(tmp_path / "list.yaml", text)
    with pytest.raises(ConfigError, match=r"the top level must be a mapping, got"):
        load_config(Config, path)


def test_base_inheritance(tmp_path):
    write(
        tmp_path / "base" / "root.yaml", "trainer:\n  epochs: 100\n  amp: false\ndata:\n  root: /base\n"
    )
    write(
        tmp_path / "base" / "tcn.yaml",
        "_base_: root.yaml\ntrainer:\n  epochs: 50\nmethod:\n  name: tcn\ndata:\n  extensions: [.mp4]\n",
    )
    path = write(
        tmp_path / "exp" / "run.yaml",
        "_base_: ../base/tcn.yaml\ntrainer:\n  log_every: 1\ndata:\n  extensions: [.avi]\n",
    )
    cfg = load_config(Config, path, ["trainer.epochs=7"])
    assert cfg.trainer == Trainer(epochs=7, amp=False, log_every=1)
    assert cfg.data.root == "/base"
    assert cfg.data.extensions == [".avi"]  # lists are replaced, not concatenated
    assert cfg.method.name == "tcn"


def test_base_list_merged_in_order(tmp_path):
    write(tmp_path / "a.yaml", "trainer:\n  epochs: 1\n  log_every: 1\n")
    write(tmp_path / "b.yaml", "trainer:\n  epochs: 2\n")
    path = write(tmp_path / "c.yaml", "_base_: [a.yaml, b.yaml]\ntrainer:\n  amp: false\n")
    assert load_config(Config, path).trainer == Trainer(epochs=2, log_every=1, amp=False)


def test_base_errors(tmp_path):
    missing = write(tmp_path / "m.yaml", "_base_: gone.yaml\n")
    with pytest.raises(ConfigError, match=r"config file not found: .*gone\.yaml"):
        load_config(Config, missing)
    write(tmp_path / "x.yaml", "_base_: y.yaml\n")
    cycle = write(tmp_path / "y.yaml", "_base_: x.yaml\n")
    with pytest.raises(ConfigError, match=r"circular _base_ chain: .*y\.yaml -> .*x\.yaml -> .*y\.yaml"):
        load_config(Config, cycle)
    bad = write(tmp_path / "bad.yaml", "_base_: 5\n")
    with pytest.raises(ConfigError, match=r"_base_ must be a path or a list of paths"):
        load_config(Config, bad)


def test_unknown_key_in_base_file(tmp_path):
    write(tmp_path / "base.yaml", "trainer:\n  epochz: 1\n")
    path = write(tmp_path / "run.yaml", "_base_: base.yaml\n")
    with pytest.raises(ConfigError, match=r"^config key 'trainer\.epochz': unknown key; did you mean"):
        load_config(Config, path)


# to_dict / save_config


def test_to_dict_is_plain_yaml_data():
    data = to_dict(Config())
    assert data["data"]["size"] == [224, 224] and data["data"]["cache"] == "/tmp/cache"
    assert data["optim"]["betas"] == [0.9, 0.999]
    assert list(data) == ["data", "method", "optim", "trainer", "eval"]  # declaration order
    yaml.safe_dump(data)  # raises on anything not plain


def test_round_trip(tmp_path):
    cfg = from_dict(
        Config,
        {
            "data": {"root": "1e-3", "size": [112, 112], "class_names": {"run": 0, "yes": 1}},
            "method": {"name": "moco", "options": {"when": "2024-01-01", "t": "null", "n": None}},
            "optim": {"lr": 1e-5, "schedule": "step", "betas": [0.5, 0.6]},
            "trainer": {"seed": "42", "amp": False},
            "eval": {"head": {"name": "tcn", "temperature": 0.07}, "metrics": ["linear"]},
        },
    )
    path = tmp_path / "runs" / "1" / "config.yaml"
    save_config(cfg, path)
    assert load_config(Config, path) == cfg
    assert load_config(Config, path).trainer.seed == "42"  # still a string
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temp file left


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "config.yaml"
    save_config(Config(), path)
    save_config(from_dict(Config, {"trainer": {"epochs": 3}}), path)
    assert load_config(Config, path).trainer.epochs == 3


def test_decode_size_defaults_to_the_rule_from_the_crop_size():
    from tempssl.schema import TrainConfig

    assert load_config(TrainConfig, None, ["transforms.size=224"]).decode_short_side() == 256
    assert load_config(TrainConfig, None, ["data.decode_size=300"]).decode_short_side() == 300
    assert load_config(TrainConfig, None, ["data.decode_size=null"]).decode_short_side() is None
    with pytest.raises(ConfigError, match=r"'data\.decode_size'"):
        load_config(TrainConfig, None, ["data.decode_size=big"])

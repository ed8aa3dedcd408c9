from __future__ import annotations

import pytest

from tempssl.registry import Registry, UnknownNameError, closest_match


@pytest.fixture
def methods() -> Registry[type]:
    registry: Registry[type] = Registry("method")

    @registry.register("tcn")
    class TCN:
        pass

    registry.register("moco", type("MoCo", (), {}))
    registry.register("simclr", type("SimCLR", (), {}))
    return registry


def test_register_and_get(methods):
    assert methods.get("tcn").__name__ == "TCN"
    assert methods.get("moco").__name__ == "MoCo"
    assert "tcn" in methods and "byol" not in methods and 3 not in methods
    assert len(methods) == 3


def test_decorator_returns_the_object_unchanged():
    registry: Registry[object] = Registry("thing")

    def build():
        return 1

    assert registry.register("build")(build) is build
    assert registry.register("two", 2) == 2


def test_duplicate_name_raises_and_keeps_the_first(methods):
    first = methods.get("tcn")
    with pytest.raises(ValueError, match=r"method 'tcn' is already registered \(to .*TCN\)"):
        methods.register("tcn", object())
    assert methods.get("tcn") is first


@pytest.mark.parametrize("name", ["", None])
def test_invalid_name_raises(methods, name):
    with pytest.raises(ValueError, match="non-empty strings"):
        methods.register(name, object())


def test_unknown_name_suggests_closest_and_lists_choices(methods):
    with pytest.raises(UnknownNameError) as info:
        methods.get("tcm")
    message = str(info.value)
    assert message == "unknown method 'tcm'; did you mean 'tcn'? valid choices: moco, simclr, tcn"
    # a failed lookup and a bad value: build_sampler / build_transform document ValueError
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert info.value.suggestion == "tcn"
    assert info.value.choices == ["moco", "simclr", "tcn"]


def test_indexing_is_get(methods):
    assert methods["tcn"] is methods.get("tcn")
    with pytest.raises(UnknownNameError, match="did you mean 'tcn'"):
        methods["tcm"]


def test_every_named_component_is_a_registry():
    from tempssl.data.sampling import SAMPLERS
    from tempssl.data.transforms import RECIPES, TRANSFORMS
    from tempssl.eval.export import EXPORTERS
    from tempssl.methods import METHODS
    from tempssl.models import BACKBONES

    registries = [METHODS, BACKBONES, SAMPLERS, TRANSFORMS, RECIPES, EXPORTERS]
    assert all(isinstance(registry, Registry) and len(registry) for registry in registries)
    kinds = ["method", "backbone", "sampler", "transform", "recipe", "exporter"]
    assert [registry.kind for registry in registries] == kinds
    assert set(RECIPES.names()) < set(TRANSFORMS.names())  # each recipe is a transform too
    assert set(EXPORTERS.names()) <= set(BACKBONES.names())


def test_unknown_name_without_close_match(methods):
    with pytest.raises(KeyError, match=r"^unknown method 'xyz'; valid choices: moco, simclr, tcn$"):
        methods.get("xyz")


def test_unknown_name_in_empty_registry():
    with pytest.raises(UnknownNameError, match=r"valid choices: \(none registered\)"):
        Registry("sampler").get("pairs")


def test_names_sorted_and_filtered(methods):
    methods.register("simsiam", object)
    assert methods.names() == ["moco", "simclr", "simsiam", "tcn"]
    assert methods.names("sim*") == ["simclr", "simsiam"]
    assert methods.names("[mt]*") == ["moco", "tcn"]
    assert methods.names("SIM*") == []  # case-sensitive on every platform
    assert methods.names("nothing*") == []
    assert "simclr" in repr(methods)


def test_closest_match():
    assert closest_match("epochz", ["epochs", "lr"]) == "epochs"
    assert closest_match("zzz", ["epochs", "lr"]) is None
    assert closest_match(3, ["epochs", "lr"]) is None
    assert str(UnknownNameError("mode", 3, ["a"])) == "unknown mode '3'; valid choices: a"

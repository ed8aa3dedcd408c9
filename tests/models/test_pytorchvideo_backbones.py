"""pytorchvideo's X3D, Slow-R50 and R(2+1)D-R50 as clip backbones: shapes on tiny clips, the map
before pooling, state dicts that load strictly into pytorchvideo's builders, one training step.

Skipped where pytorchvideo does not import (`pip install -e ".[pytorchvideo]"`), except the tests
that tempssl works without it."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tempssl.methods import build_method
from tempssl.models import BACKBONES, build_backbone, input_kind
from tempssl.models import pytorchvideo_backbones as pv

# pytorchvideo 0.1.5's Swish (X3D) reads `ctx.saved_variables`, deprecated by torch.
pytestmark = pytest.mark.filterwarnings("ignore:'saved_variables' is deprecated:DeprecationWarning")

NAMES = ["x3d_xs", "x3d_s", "slow_r50", "r2plus1d_r50"]
RESNETS = ["slow_r50", "r2plus1d_r50"]


def _clips(frames: int = 4, size: int = 32, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(0))


def _trained(backbone: nn.Module) -> nn.Module:
    """`backbone` unlike a fresh build (whose residual branches end in zero BatchNorms): random
    BatchNorm scales and statistics, every tensor shifted."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, value in backbone.state_dict().items():
            if key.endswith("running_var"):
                value.uniform_(0.5, 2.0, generator=generator)
            elif key.endswith(".weight") and value.ndim == 1:  # BatchNorm scales
                value.normal_(1.0, 0.5, generator=generator)
            elif value.is_floating_point():
                value.add_(torch.randn(value.shape, generator=generator) * 0.01)
    return backbone


@pytest.fixture(scope="module")
def pytorchvideo_models():
    try:
        return pv.import_pytorchvideo_models()
    except ImportError as error:
        pytest.skip(f"the optional [pytorchvideo] extra is not installed here: {error}")


@pytest.fixture(scope="module", params=NAMES)
def backbone(request, pytorchvideo_models) -> tuple[str, nn.Module]:
    torch.manual_seed(0)
    return request.param, _trained(build_backbone(request.param)).eval()


def test_tempssl_imports_and_registers_them_without_pytorchvideo():
    code = (
        "import sys; import tempssl.models as m, tempssl.methods, tempssl.eval.export; "
        f"assert set({NAMES!r}) <= set(m.BACKBONES.names()); "
        "assert not any(name.split('.')[0] == 'pytorchvideo' for name in sys.modules), 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_building_one_without_pytorchvideo_names_the_extra(monkeypatch):
    for name in [name for name in sys.modules if name.split(".")[0] == "pytorchvideo"] + [
        "pytorchvideo"
    ]:
        monkeypatch.setitem(sys.modules, name, None)  # `import pytorchvideo...` raises ImportError
    with pytest.raises(ImportError, match=r'need pytorchvideo: pip install -e "\.\[pytorchvideo\]"'):
        build_backbone("x3d_xs")


def test_embeds_tiny_clips(backbone):
    """One frame is enough (every temporal convolution is padded); 4 and 5 frames below."""
    _, model = backbone
    assert model.out_dim == 2048 and input_kind(model) == "clip"
    with torch.no_grad():
        assert model(_clips(1)).shape == (2, 2048)


def test_state_dict_is_the_published_builders_without_the_classifier(backbone):
    """Our builder call makes the network of `pytorchvideo.models.hub.<name>(pretrained=False)`
    (head pooling window included); the backbone has its tensors but the classifier's."""
    name, model = backbone
    import pytorchvideo.models.hub as hub

    ours, published = pv.build_pytorchvideo_model(name), getattr(hub, name)(pretrained=False)
    assert repr(ours) == repr(published)  # kernel sizes, strides, pooling windows, dropout
    shapes = {key: value.shape for key, value in published.state_dict().items()}
    assert {key: value.shape for key, value in ours.state_dict().items()} == shapes
    del shapes["blocks.5.proj.weight"], shapes["blocks.5.proj.bias"]
    assert {key: value.shape for key, value in model.state_dict().items()} == shapes


@pytest.mark.parametrize("backbone", ["x3d_xs", "slow_r50", "r2plus1d_r50"], indirect=True)
def test_forward_features_before_pooling(backbone):
    name, model = backbone
    with torch.no_grad():
        maps = model.forward_features(_clips(5))
        before = model.forward_features(_clips(5), pre_activation=True)
        pooled = model(_clips(5))
    assert maps.ndim == 5 and maps.shape[:2] == (2, 2048)
    torch.testing.assert_close(before.relu(), maps)
    assert (before < 0).any()  # not yet rectified
    if name in RESNETS:
        torch.testing.assert_close(maps.mean(dim=(2, 3, 4)), pooled)
    else:  # X3D pools between conv5 and fc1: fc1 is linear, its ReLU comes after the pooling
        torch.testing.assert_close(before.mean(dim=(2, 3, 4)).relu(), pooled)


def test_x3d_at_its_published_input_is_the_builders_own_network(pytorchvideo_models):
    """At 4x160x160 the builder's fixed pooling window is the whole map: global pooling is the same."""
    torch.manual_seed(0)
    model = _trained(build_backbone("x3d_xs")).eval()
    target = pv.build_pytorchvideo_model("x3d_xs")
    target.load_state_dict(pv.builder_state_dict(model), strict=True)
    target.blocks[-1].proj = nn.Identity()
    target.blocks[-1].activation = None
    x = _clips(4, 160, batch=1)
    with torch.no_grad():
        torch.testing.assert_close(target.eval()(x), model(x))


def test_exported_state_dict_loads_strictly_into_the_builder_and_gives_the_same_features(
    backbone, monkeypatch
):
    """`export_fields` is what `tempssl.eval.export` needs: registered as the exporter, the
    export loads with `strict=True` into the builder, whose model, made a feature extractor by
    `as_backbone`, gives the backbone's features (`prepare_export` checks both)."""
    from tempssl.eval import export

    name, model = backbone
    monkeypatch.setitem(
        export.EXPORTERS._entries,
        name,
        lambda b, cfg: export.BackboneExport(**pv.export_fields(name, b)),
    )
    cfg = SimpleNamespace(transforms=SimpleNamespace(size=32))
    result, difference = export.prepare_export(model, name, cfg)
    assert result.target == pv.builder_expression(name) and difference < 1e-4
    assert result.target.startswith(f"pytorchvideo.models.{pv.BUILDERS[name][0]}.create_")
    assert result.modules == [f"pytorchvideo.models.{pv.BUILDERS[name][0]}"]


def test_cpc_trains_through_x3d(pytorchvideo_models):
    torch.manual_seed(0)
    method = build_method("cpc", build_backbone("x3d_xs"), pred_steps=1, context_dim=8, gather=False)
    out = method({"clip": torch.rand(2, 3, 2, 3, 32, 32)})  # 2 sequences of 3 blocks of 2 frames
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert all(p.grad is not None for p in method.backbone.parameters())


def test_registered():
    assert set(NAMES) <= set(BACKBONES.names())

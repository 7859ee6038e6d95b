"""``baselines.create_model`` / ``baselines.list_models``: the model registry's entry points at
the package top, as issue 4 named them (timm exposes ``timm.create_model`` the same way)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_create_model_and_list_models_at_the_top() -> None:
    import baselines
    from baselines import create_model, list_models, zoo
    from baselines.models import registry

    assert {"create_model", "list_models"} <= set(baselines.__all__)
    assert {"create_model", "list_models"} <= set(dir(baselines))
    assert create_model is zoo.create_model and list_models is registry.list_models
    assert "gca" in list_models() and list_models("dim*") == ["dim", "dim-vgg16-fc6"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        baselines.nope  # noqa: B018


def test_import_baselines_stays_light() -> None:
    """The two names resolve lazily: ``import baselines`` alone imports no torch."""
    code = "import sys, baselines; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

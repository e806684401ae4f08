"""``framework.testing`` exports its public names lazily; every one of them must resolve."""

from __future__ import annotations

import pytest

import framework.testing


def test_every_exported_name_resolves_to_its_module_object() -> None:
    assert sorted(framework.testing.__all__) == sorted(framework.testing._EXPORTS)
    for name, module in framework.testing._EXPORTS.items():
        value = getattr(framework.testing, name)
        assert getattr(__import__(module, fromlist=[name]), name) is value
    assert set(framework.testing.__all__) <= set(dir(framework.testing))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        framework.testing.nothing  # noqa: B018

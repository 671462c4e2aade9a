"""Every-error-at-once validation on top of msgspec."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from connectors.errors import SettingsError
from engine.config.validation import convert


class Inner(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    value_ms: Annotated[int, msgspec.Meta(ge=0)]
    label: str = ""


class Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    a: int = 0


class Checked(msgspec.Struct, frozen=True, kw_only=True):
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low must not exceed high")


class Outer(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    name: str
    inner: Inner
    maybe: Inner | None = None
    many: list[Inner] = []
    strict: Strict = Strict()


def test_valid_data_converts() -> None:
    assert convert({"name": "n", "inner": {"valueMs": 1}}, Outer).inner.value_ms == 1


def test_every_field_is_reported() -> None:
    data = {
        "name": 1,
        "inner": {"valueMs": -1, "label": 2},
        "maybe": {},
        "many": [{"valueMs": 0}, {"valueMs": "x"}, "nope"],
        "strict": {"a": 1, "b": 2},
    }
    with pytest.raises(SettingsError) as caught:
        convert(data, Outer, path="settings")
    assert caught.value.errors == {
        "settings.name": "Expected `str`, got `int`",
        "settings.inner.valueMs": "Expected `int` >= 0",
        "settings.inner.label": "Expected `str`, got `int`",
        "settings.maybe.valueMs": "Object missing required field `valueMs`",
        "settings.many[1].valueMs": "Expected `int`, got `str`",
        "settings.many[2]": "Expected `object`, got `str`",
        "settings.strict.b": "Object contains unknown field `b`",
    }


def test_whole_struct_check_is_reported_at_its_path() -> None:
    with pytest.raises(SettingsError) as caught:
        convert({"low": 2, "high": 1}, Checked, path="items[0].settings")
    assert caught.value.errors == {"items[0].settings": "low must not exceed high"}


def test_wrong_top_level_type() -> None:
    with pytest.raises(SettingsError) as caught:
        convert([], Outer)
    assert caught.value.errors == {"body": "Expected `object`, got `array`"}


def test_integers_a_worker_cannot_receive_are_refused_naming_the_field() -> None:
    # Saved before, then the worker crash-looped on "Integer value out of range" (msgpack holds 64 bits).
    huge = 99999999999999999999999
    with pytest.raises(SettingsError) as caught:
        convert({"name": "x", "inner": {"valueMs": huge}, "many": [{"valueMs": 1}, {"valueMs": -huge}]}, Outer)
    assert set(caught.value.errors) == {"inner.valueMs", "many[1].valueMs"}
    assert "Integer value out of range" in caught.value.errors["inner.valueMs"]
    # The largest 64-bit values still pass, and the result survives the IPC codec.
    value = convert({"name": "x", "inner": {"valueMs": 2**63 - 1}}, Outer)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(value), type=Outer) == value

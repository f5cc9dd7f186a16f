"""The shared pieces behind every paid endpoint call (the recipe and the judge): the budget, the
one price table and the API key rule. The retry loop itself is tested over real HTTP in
test_judge.py and test_instruct_http.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from bioinstruct_data.config import ConfigError, InstructConfig
from runners.judging import schemas as judge_schemas
from tasks.ground.errors import ConfigError as SharedConfigError
from tasks.ground.openai_client import LOCAL_KEY, Budget, resolve_api_key
from tasks.ground.prices import PRICES_FILE, Price, default_prices, load_prices, lookup


def test_one_config_error_and_one_price_class():
    assert ConfigError is SharedConfigError and issubclass(ConfigError, ValueError)
    assert judge_schemas.Price is Price


def test_try_reserve_answers_at_once_and_none_means_no_limit():
    budget = Budget(1.0, spent=0.5)
    assert budget.try_reserve(0.4) and not budget.try_reserve(0.2)
    budget.settle(0.4, 0.1)
    assert budget.spent == pytest.approx(0.6) and budget.try_reserve(0.4)
    unlimited = Budget(None, spent=99.0)
    assert all(unlimited.try_reserve(1e6) for _ in range(3))
    assert "no --max-cost" in unlimited.describe()


def test_reserve_waits_for_requests_in_flight_then_stops_when_nothing_can_fit():
    async def scenario() -> list[bool]:
        budget = Budget(1.0)
        assert await budget.reserve(0.6)  # in flight
        waiting = asyncio.create_task(budget.reserve(0.6))
        await asyncio.sleep(0)
        assert not waiting.done()  # 0.6 + 0.6 > 1: waits for the first to settle
        budget.settle(0.6, 0.3)  # it cost less than its bound: the second now fits
        results = [await waiting]
        budget.settle(0.6, 0.6)  # spent 0.9: a third can never fit
        results.append(await budget.reserve(0.6))
        results.append(budget.stopped)
        return results

    assert asyncio.run(scenario()) == [True, False, True]


def test_the_price_table_reads_both_shapes_and_prefixes(tmp_path):
    table = default_prices()
    assert table["gpt-4o"] == (2.5, 10.0) and table["gpt-3.5-turbo"] == (0.5, 1.5)
    assert "_comment" in json.loads(PRICES_FILE.read_text())  # the citation stays in the file
    assert lookup(table, "gpt-4o-mini-2024-07-18") == (0.15, 0.6)  # longest prefix wins
    assert lookup(table, "my-local-model") is None
    assert InstructConfig().prices == table
    path = tmp_path / "prices.json"
    path.write_text('{"a": [1, 2], "b": {"input_per_mtok": 3, "output_per_mtok": 4}, "_c": "x"}')
    assert load_prices(path) == {"a": Price(1.0, 2.0), "b": Price(3.0, 4.0)}
    path.write_text('{"a": {"input": 1}}')
    with pytest.raises(ConfigError, match="entry 'a' needs input_per_mtok"):
        load_prices(path)
    with pytest.raises(ConfigError, match="cannot read price table"):
        load_prices(tmp_path / "missing.json")


def test_api_key_rule(monkeypatch):
    monkeypatch.delenv("BIOBENCH_TEST_KEY", raising=False)
    assert resolve_api_key("BIOBENCH_TEST_KEY", "http://127.0.0.1:8000/v1") == LOCAL_KEY
    with pytest.raises(ConfigError, match="BIOBENCH_TEST_KEY"):
        resolve_api_key("BIOBENCH_TEST_KEY", "https://api.openai.com/v1")
    monkeypatch.setenv("BIOBENCH_TEST_KEY", " sk-x ")
    assert resolve_api_key("BIOBENCH_TEST_KEY", "https://api.openai.com/v1") == "sk-x"

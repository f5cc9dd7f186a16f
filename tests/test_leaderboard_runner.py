"""``biobench leaderboard``: arguments, the Streamlit command line, clear errors."""

from __future__ import annotations

from runners import board as runner
from runners import cli


def test_command_serves_on_loopback_headless():
    command = runner.streamlit_command(8765)
    assert command[1:4] == ["-m", "streamlit", "run"]
    assert command[4] == str(runner.APP) and runner.APP.is_file()
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.port"] == "8765"
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"


def test_theme_is_passed_to_streamlit():
    assert "--theme.base" not in runner.streamlit_command(8765)
    command = runner.streamlit_command(8765, "dark")
    assert command[command.index("--theme.base") + 1] == "dark"
    assert runner.build_parser().parse_args(["--theme", "light"]).theme == "light"


def test_cli_knows_the_command():
    assert cli.COMMANDS["leaderboard"][0] == "runners.board"


def test_bad_port_is_a_clear_error(capsys):
    assert runner.main(["--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert "--port 70000" in err and "1-65535" in err


def test_missing_submissions_folder_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert runner.main(["--submissions", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "not a folder" in err


def test_warm_computes_the_first_visitors_tables_in_the_server_process(
    tmp_path, monkeypatch, capsys
):
    """Before serving, the runner computes the store's tables and the board's default view under
    the key the pages ask for; the pages' Streamlit cache miss then finds them (no recompute)."""
    from leaderboard import views
    from leaderboard.screens import shared
    from tests.support.synthetic_store import synthetic_population, write_store

    root = tmp_path / "submissions"
    write_store(root, synthetic_population(6, n_items=3))
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(root))
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    shared._tables.cache_clear()
    shared._board.cache_clear()
    runner.warm()
    assert "read 6 submissions in" in capsys.readouterr().out
    key = shared.current()
    before = shared._board.cache_info()
    shared._board(*key, str(views.Variant.LOGLIK), False)  # what the board page asks first
    after = shared._board.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    assert shared._tables.cache_info().currsize == 1

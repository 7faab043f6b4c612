from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner
from helpers import cif_of, nacl, perovskite

from crystaloop.cli import main


@pytest.fixture
def runner(home):
    return CliRunner()


def _invoke(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_init_writes_a_working_configuration(runner, home):
    result = _invoke(runner, "init")
    assert result.exit_code == 0, result.output
    for name in (
        "settings.yaml",
        "my_launchpad.yaml",
        "jobflow.yaml",
        "my_fworker_cpu.yaml",
        "my_fworker_gpu.yaml",
    ):
        assert (home / name).exists(), name
        assert (home / name).stat().st_mode & 0o077 == 0  # private
    assert yaml.safe_load((home / "my_fworker_gpu.yaml").read_text())["category"] == "gpu"


def test_init_mongo_keeps_the_uri_out_of_the_output(runner, home):
    result = _invoke(runner, "init", "--mongo", "mongodb://user:s3cret@127.0.0.1:9/x")
    assert result.exit_code == 0
    assert "s3cret" not in result.output
    launchpad = yaml.safe_load((home / "my_launchpad.yaml").read_text())
    assert launchpad["uri_mode"] is True and launchpad["host"].startswith("mongodb://")
    assert yaml.safe_load((home / "settings.yaml").read_text())["backend"] == "mongodb"


def test_ingest_json_summary_errors_file_stats_and_query(runner, home, tmp_path):
    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "NaCl.cif").write_text(cif_of(nacl()))
    (folder / "SrTiO3.cif").write_text(cif_of(perovskite()))
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    errors = tmp_path / "errors.jsonl"
    result = _invoke(
        runner,
        "corpus",
        "ingest",
        str(folder),
        "--source",
        "mine",
        "--json",
        "--errors",
        str(errors),
        "--workers",
        "1",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert {k: summary[k] for k in ("read", "stored", "duplicates", "rejected")} == {
        "read": 3,
        "stored": 2,
        "duplicates": 0,
        "rejected": 1,
    }
    assert summary["errors"][0]["source_id"] == "broken"
    assert json.loads(errors.read_text().splitlines()[0])["source_id"] == "broken"

    stats = json.loads(_invoke(runner, "corpus", "stats", "--json").output)
    assert stats["total"] == 2
    text = _invoke(runner, "corpus", "query", "--formula", "SrTiO3").output
    assert "mine:SrTiO3" in text and "1 result(s)" in text
    lines = _invoke(runner, "corpus", "query", "--elements", "Na,Cl", "--json").output
    assert json.loads(lines.splitlines()[0])["structure"]["@class"] == "Structure"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("empty.cif", b"", "file is empty"), ("garbage.bin", b"\xff\xfe\x00\x81", "cannot read")],
)
def test_unreadable_input_exits_nonzero_with_one_line(
    runner, home, tmp_path, name, content, message
):
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(main, ["corpus", "ingest", str(path), "--json"])
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unreadable_input_after_good_input_keeps_what_was_stored(runner, home, tmp_path):
    good = tmp_path / "NaCl.cif"
    good.write_text(cif_of(nacl()))
    assert _invoke(runner, "corpus", "ingest", str(good), "--workers", "1").exit_code == 0
    result = runner.invoke(main, ["corpus", "ingest", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1 and "no such file" in result.output
    assert json.loads(_invoke(runner, "corpus", "stats", "--json").output)["total"] == 1


def test_query_needs_a_criterion(runner):
    result = runner.invoke(main, ["corpus", "query"])
    assert result.exit_code == 2 and "--formula" in result.output


HELP_COMMANDS = [
    [],
    ["init"],
    ["corpus"],
    ["corpus", "ingest"],
    ["corpus", "stats"],
    ["corpus", "query"],
    ["run"],
    ["submit"],
    ["status"],
    ["recover"],
    ["stop"],
    ["design"],
    ["worker"],
    ["train"],
    ["train", "surrogate"],
    ["predict"],
]


def test_help_is_fast_and_imports_no_heavy_package():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from crystaloop.cli import main\n"
        f"for args in {HELP_COMMANDS!r}:\n"
        "    r = CliRunner().invoke(main, [*args, '--help'])\n"
        "    assert r.exit_code == 0, (args, r.output)\n"
        "heavy = [m for m in ('torch', 'e3nn', 'fireworks', 'pymatgen', 'jobflow', 'chgnet')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lpad_and_rlaunch_passthrough_on_the_embedded_launchpad(runner, home, tmp_path):
    import os

    _invoke(runner, "init")

    def crystaloop(*args):
        out = subprocess.run(
            [sys.executable, "-m", "crystaloop", *args],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            cwd=tmp_path,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert crystaloop("lpad", "get_fws", "-d", "count").endswith("0")
    crystaloop("lpad", "add_scripts", "echo hello", "-n", "hello")
    assert crystaloop("lpad", "get_fws", "-s", "READY", "-d", "count").endswith("1")
    crystaloop("rlaunch", "singleshot")
    assert crystaloop("lpad", "get_fws", "-s", "COMPLETED", "-d", "count").endswith("1")

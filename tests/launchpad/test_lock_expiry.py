"""A workflow lock left by a killed worker expires: the next worker breaks it and goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import yaml
from fireworks import Firework, ScriptTask, Workflow

from crystaloop.launchpad.config import get_launchpad, write_configuration
from crystaloop.launchpad.fw_env import shadowing_fw_config, use_fw_config


def test_the_home_configures_the_lock_expiry(home, monkeypatch):
    from crystaloop.settings import load_settings

    monkeypatch.setenv("CRYSTALOOP_LOCK_EXPIRATION_S", "7")
    settings = load_settings()
    assert settings.fw_config_file in write_configuration(settings)
    assert yaml.safe_load(settings.fw_config_file.read_text()) == {
        "WFLOCK_EXPIRATION_SECS": 7,
        "WFLOCK_EXPIRATION_KILL": True,
    }
    monkeypatch.delenv("FW_CONFIG_FILE", raising=False)
    monkeypatch.setenv("HOME", str(home.parent / "user"))  # no ~/.fireworks/FW_config.yaml
    use_fw_config(settings.home)
    assert os.environ["FW_CONFIG_FILE"] == str(settings.fw_config_file)
    assert shadowing_fw_config(settings.home) is None
    # FireWorks prefers an FW_config.yaml in the working folder: then the home's is not in effect
    (home.parent / "FW_config.yaml").write_text("{}")
    monkeypatch.chdir(home.parent)
    assert shadowing_fw_config(settings.home) == home.parent / "FW_config.yaml"
    assert use_fw_config(settings.home) is False
    # a site's own FW_CONFIG_FILE wins
    monkeypatch.setenv("FW_CONFIG_FILE", "/site/FW_config.yaml")
    use_fw_config(settings.home)
    assert os.environ["FW_CONFIG_FILE"] == "/site/FW_config.yaml"


def test_a_worker_breaks_a_lock_a_killed_worker_left(home, monkeypatch):
    from crystaloop.settings import load_settings

    monkeypatch.setenv("CRYSTALOOP_LOCK_EXPIRATION_S", "2")
    settings = load_settings()
    write_configuration(settings)
    launchpad = get_launchpad(settings)
    launchpad.reset("", require_password=False)
    log = settings.home / "log.txt"
    fws = [Firework(ScriptTask.from_str(f"echo {i} >> {log}"), fw_id=i + 1) for i in range(3)]
    launchpad.add_wf(Workflow(fws, name="echo"))
    # a worker killed (SIGKILL, walltime) while it held the workflow's lock leaves it set
    launchpad.workflows.update_one({"nodes": 1}, {"$set": {"locked": True}})
    env = {k: v for k, v in os.environ.items() if k != "FW_CONFIG_FILE"}
    elsewhere = home.parent / "elsewhere"  # not the home: FireWorks must find the file by env
    elsewhere.mkdir()
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "crystaloop", "worker", "--timeout", "120"],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(launchpad.get_fw_ids({"state": "COMPLETED"})) == 3
    assert sorted(log.read_text().split()) == ["0", "1", "2"]
    # FireWorks' default would have waited 300 s, then refused; the home's expiry is 2 s
    assert elapsed < 90, elapsed


def test_preparing_an_older_home_adds_the_lock_expiry(home, monkeypatch):
    from crystaloop.launchpad.runner import prepare_home
    from crystaloop.settings import load_settings

    # the sample corpus is not what this test is about
    monkeypatch.setattr("crystaloop.stores.ingest.sample.ingest_sample_corpus", lambda *a: {})

    settings = load_settings()
    write_configuration(settings)
    settings.fw_config_file.unlink()  # a home configured before the file existed
    lines = []
    prepare_home(settings, 1, lines.append)
    assert settings.fw_config_file.exists() and any("FW_config.yaml" in line for line in lines)

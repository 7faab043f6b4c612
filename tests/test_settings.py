from __future__ import annotations

import pytest
import yaml

from crystaloop.settings import CrystaloopSettings, load_settings


def test_defaults_use_crystaloop_home(home):
    settings = load_settings()
    assert settings.home == home.resolve()
    assert settings.backend == "embedded"
    assert settings.embedded_dir == home.resolve() / "db"
    assert settings.category_for("train") == "gpu"
    assert settings.category_for("dft") == "cpu"
    assert settings.category_for("something-else") == "cpu"


def test_yaml_file_then_environment_then_keywords(home, monkeypatch):
    home.mkdir(parents=True)
    (home / "settings.yaml").write_text(yaml.safe_dump({"database": "from_file", "device": "cuda"}))
    assert load_settings().database == "from_file"
    monkeypatch.setenv("CRYSTALOOP_DATABASE", "from_env")
    settings = load_settings()
    assert settings.database == "from_env"
    assert settings.device == "cuda"
    assert load_settings(database="from_kwargs").database == "from_kwargs"


def test_mongo_uri_is_secret(home):
    settings = CrystaloopSettings(backend="mongodb", mongo_uri="mongodb://user:hunter2@host/db")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())
    assert settings.require_mongo_uri() == "mongodb://user:hunter2@host/db"


def test_mongodb_without_uri_is_a_clear_error(home):
    with pytest.raises(ValueError, match="no URI is set"):
        load_settings(backend="mongodb").require_mongo_uri()


def test_bad_values_are_rejected(home):
    with pytest.raises(ValueError):
        load_settings(backend="postgres")
    with pytest.raises(ValueError):
        load_settings(max_sites=0)

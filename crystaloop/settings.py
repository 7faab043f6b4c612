"""Infrastructure settings: where the stores and the LaunchPad live, which oracle and device to use.

Settings are read, highest priority first, from keyword arguments, ``CRYSTALOOP_*`` environment
variables, and ``$CRYSTALOOP_HOME/settings.yaml`` (``CRYSTALOOP_HOME`` defaults to
``~/.crystaloop``). Credentials are held as :class:`pydantic.SecretStr` so they never appear in a
``repr``, a log line or a job output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from crystaloop.home import FW_CONFIG_FILENAME, crystaloop_home

SETTINGS_FILENAME = "settings.yaml"

DEFAULT_CATEGORIES: dict[str, str] = {
    "train": "gpu",
    "generate": "gpu",
    "score": "gpu",
    "dft": "cpu",
    "batch_oracle": "gpu",
    "default": "cpu",
}


class CrystaloopSettings(BaseSettings):
    """Where crystaloop keeps its data and how it reaches its services.

    Attributes
    ----------
    home
        Configuration folder holding ``settings.yaml``, the LaunchPad and worker files, the
        jobflow config and (embedded profile) the database and artifact folders.
    backend
        ``"embedded"`` (file-backed SQLite store, no server) or ``"mongodb"``.
    mongo_uri
        MongoDB connection string for the ``mongodb`` backend; secret, never logged.
    database
        Database name for the stores (and the LaunchPad, in its own ``launchpad_database``).
    oracle
        Labelling oracle: ``"chgnet"`` or ``"sevennet"`` (atomate2 force-field makers; the
        potentials' weights ship in their wheels) or ``"vasp"``.
    oracle_engine
        How an ML oracle runs: ``"atomate2"`` (one force-field relax + static sub-flow per
        structure) or ``"torchsim"`` (one batched TorchSim relaxation of a whole dispatch on the
        ``batch_oracle`` worker category; ``sevennet`` only).
    hull
        Where energies above the hull come from: ``"oracle"`` (reference phases labelled by the
        oracle) or ``"mp2020"`` (the MP2020-corrected Materials Project entries ingested with
        ``crystaloop corpus ingest-entries``; needs the ``vasp`` oracle).
    device
        Torch device for training and inference (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    categories
        FireWorks worker category for each kind of job (``train``, ``generate``, ``score``,
        ``dft``, ``batch_oracle``, ``default``).
    max_sites
        Largest structure accepted by ingest and the models.
    max_file_mb
        Largest input file accepted by ingest, in MiB.
    lock_expiration_s
        Seconds a worker waits for a workflow lock before it breaks it (FireWorks'
        ``WFLOCK_EXPIRATION_SECS`` with ``WFLOCK_EXPIRATION_KILL``, written to ``FW_config.yaml``):
        a worker killed while holding the lock then stalls the others this long, not forever.
    """

    # extra="forbid": an unknown key in settings.yaml is an error (load_settings names it)
    model_config = SettingsConfigDict(env_prefix="CRYSTALOOP_", extra="forbid")

    home: Path = Field(default_factory=crystaloop_home)
    backend: Literal["embedded", "mongodb"] = "embedded"
    mongo_uri: SecretStr | None = None
    database: str = "crystaloop"
    launchpad_database: str = "crystaloop_fireworks"
    oracle: Literal["chgnet", "sevennet", "vasp"] = "chgnet"
    oracle_engine: Literal["atomate2", "torchsim"] = "atomate2"
    hull: Literal["oracle", "mp2020"] = "oracle"
    device: str = "cpu"
    categories: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    max_sites: int = Field(default=500, gt=0)
    max_file_mb: int = Field(default=4096, gt=0)
    lock_expiration_s: int = Field(default=120, gt=0)

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read keyword arguments, then the environment, then ``$CRYSTALOOP_HOME/settings.yaml``."""
        yaml_file = crystaloop_home() / SETTINGS_FILENAME
        return (
            init_settings,
            env_settings,
            YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file),
        )

    @property
    def settings_file(self) -> Path:
        """Path of the YAML settings file."""
        return self.home / SETTINGS_FILENAME

    @property
    def embedded_dir(self) -> Path:
        """Folder of the embedded database (one SQLite file per collection)."""
        return self.home / "db"

    @property
    def artifacts_dir(self) -> Path:
        """Folder of content-addressed artifacts (checkpoints, candidate batches)."""
        return self.home / "artifacts"

    @property
    def launches_dir(self) -> Path:
        """Folder where ``crystaloop worker`` runs Fireworks (one ``launcher_*`` folder each)."""
        return self.home / "launches"

    @property
    def launchpad_file(self) -> Path:
        """The ``my_launchpad.yaml`` written by ``crystaloop init``."""
        return self.home / "my_launchpad.yaml"

    @property
    def jobflow_config_file(self) -> Path:
        """The jobflow configuration (``JOBFLOW_CONFIG_FILE``) holding ``JOB_STORE``."""
        return self.home / "jobflow.yaml"

    @property
    def fw_config_file(self) -> Path:
        """FireWorks' ``FW_config.yaml`` (``FW_CONFIG_FILE``): the workflow-lock expiry."""
        return self.home / FW_CONFIG_FILENAME

    def fworker_file(self, category: str) -> Path:
        """Return the ``my_fworker_<category>.yaml`` path of one worker category."""
        return self.home / f"my_fworker_{category}.yaml"

    def category_for(self, kind: str) -> str:
        """Return the FireWorks category for a kind of job (``train``, ``dft``, ...)."""
        return self.categories.get(kind, self.categories.get("default", "cpu"))

    def require_mongo_uri(self) -> str:
        """Return the MongoDB URI, or raise a clear error when none is configured."""
        if self.mongo_uri is None or not self.mongo_uri.get_secret_value():
            raise ValueError(
                "backend is 'mongodb' but no URI is set: run 'crystaloop init --mongo URI' "
                "or set CRYSTALOOP_MONGO_URI"
            )
        return self.mongo_uri.get_secret_value()

    def to_yaml_dict(self) -> dict[str, Any]:
        """Return the settings as written to ``settings.yaml`` (the URI included, on purpose)."""
        data = self.model_dump(mode="json", exclude={"home", "mongo_uri"})
        if self.mongo_uri is not None:
            data["mongo_uri"] = self.mongo_uri.get_secret_value()
        return data


class SettingsError(ValueError):
    """The settings file, a ``CRYSTALOOP_*`` variable or an override is invalid."""


def load_settings(**overrides: Any) -> CrystaloopSettings:
    """Load the settings from keyword overrides, the environment and the settings file.

    Raises
    ------
    SettingsError
        Naming each bad key and why (an unknown key in ``settings.yaml`` is an error, so a
        typo does not silently leave a default in place).
    """
    from pydantic import ValidationError

    try:
        return CrystaloopSettings(**overrides)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(settings)'}: "
            + ("unknown setting" if e["type"] == "extra_forbidden" else e["msg"])
            for e in err.errors()
        )
        where = crystaloop_home() / SETTINGS_FILENAME
        raise SettingsError(
            f"invalid settings ({where} or CRYSTALOOP_* variables): {problems}"
        ) from None

"""The ``crystaloop`` command line.

Every sub-command imports what it needs when it runs, so ``crystaloop --help`` starts fast
(no torch, no FireWorks, no pymatgen at start-up).
"""

from __future__ import annotations

import click

from crystaloop import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crystaloop")
def main() -> None:
    """AI-guided crystal discovery campaigns on FireWorks and atomate2.

    Settings come from CRYSTALOOP_* environment variables and $CRYSTALOOP_HOME/settings.yaml
    (CRYSTALOOP_HOME defaults to ~/.crystaloop). Start with 'crystaloop init'.
    """
    from crystaloop.home import crystaloop_home
    from crystaloop.launchpad.fw_env import use_fw_config

    use_fw_config(crystaloop_home())  # the workflow-lock expiry, before FireWorks is imported


# Sub-command modules register themselves on ``main``.
from crystaloop.cli import (  # noqa: E402, F401
    agent,
    analysis,
    campaign,
    classifier,
    corpus,
    discriminator,
    generate,
    generator,
    masked,
    masked_gan,
    modifier,
    runtime,
    surrogate,
)

if __name__ == "__main__":  # pragma: no cover
    main()

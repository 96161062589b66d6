"""The ``ahunt`` command line: parse options, call one library function, render with Rich.

One module per group of commands; each registers its commands on the shared Typer ``app``.
Library errors (``AhuntError``) become a red message and exit code 2 in one place
(``_app.handle_errors``).  Progress bars go to stderr so stdout stays clean for results.
"""

from ahunt.cli._app import app
from ahunt.cli import demo, experiment, hunt, manage  # noqa: F401  (registers commands)
from ahunt.cli import data  # noqa: F401  (registers `ahunt export`)
from ahunt.cli import report  # noqa: F401  (registers `ahunt umap` and `ahunt report`)

__all__ = ["app"]

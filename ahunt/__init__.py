"""ahunt: hunt for interesting anomalies in survey images (AHUNT).

The library is organised along the data's path:
sources (simulator) -> store (HDF5 images) -> model/train -> query -> oracle -> labels
(SQLite answers) -> session (one round) -> metrics/plots.  The CLI in ``cli.py`` only parses
options, calls one library function and renders the result.
"""

__version__ = "0.1.0"

from ahunt import _moved

_moved.install()  # old paths such as ahunt.session still import (see _moved.py)

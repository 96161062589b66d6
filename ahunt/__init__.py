"""ahunt: hunt for interesting anomalies in survey images (AHUNT).

The package follows the data's path, one folder per step; a step imports only the steps
before it (tests/test_layout.py):

    sources/   ingest: readers (FITS, folders, Galaxy10, arrays), stretches, the simulator
    store/     the image store (HDF5), the answer log (SQLite), labelled pixels, the workspace
    learn/     the network, training, checkpoints, scoring
    hunt/      one round: questions, oracles (terminal or script), record, retrain
    methods/   what AHUNT is measured against: baselines, ALOE, the active layer, the peers
    evaluate/  hunts with known truth, measured: the demo and experiments
    outputs/   catalogues, contact sheets, latent maps, plots, the report
    cli/       the command line: parse options, call one library function, render the result

``config.py`` (the run's settings), ``errors.py`` and ``progress.py`` are read by every step.
"""

__version__ = "0.1.0"

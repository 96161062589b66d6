"""Hunt: one round: choose the questions, ask an oracle (a person at the terminal or a script), record, retrain."""

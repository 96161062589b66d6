from ahunt.cli import app

app()

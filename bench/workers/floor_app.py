"""The floor: a one-command Typer app that prints a line."""

import typer

app = typer.Typer()


@app.command()
def main() -> None:
    """Print a line."""
    typer.echo("hello")


if __name__ == "__main__":
    app()

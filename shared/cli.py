"""What every `antq` command line shares: the data directory option."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[Path | None,
                    typer.Option("--data-dir", help="Data directory [env ANTQ_DATA_DIR; default ./.antq]")]

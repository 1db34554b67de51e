"""What every CLI command module shares: the consoles it prints on and the common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="gallery folder [default: ./data "
                                               "or FACEGATE_DATA_DIR]")]
JsonOut = Annotated[bool, typer.Option("--json", help="print JSON")]

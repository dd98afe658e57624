"""Every command, registered on the app (`capplan --help` lists them in app.HELP_ORDER)."""

from capplan.cli import check, images, project, size, trend
from capplan.cli.frame import app

COMMAND_MODULES = (size, project, check, images, trend)

__all__ = ["COMMAND_MODULES", "app"]

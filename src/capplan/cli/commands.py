"""Every command, registered on the app (`capplan --help` lists them in app.HELP_ORDER)."""

from capplan.cli import check, images, project, report, size, trend
from capplan.cli import mix as mix_command
from capplan.cli import rules as rules_command
from capplan.cli.frame import app

COMMAND_MODULES = (size, project, check, images, trend, report, mix_command, rules_command)

__all__ = ["COMMAND_MODULES", "app"]

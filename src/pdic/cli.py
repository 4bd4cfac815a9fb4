"""The `pdic` command line: a thin layer over importable functions.

Every command parses its arguments, calls one function of the package and prints the result.
Domain errors (:class:`pdic.errors.PdicError`) become one clear line on stderr and exit code 2,
here and nowhere else. No command holds logic of its own beyond formatting.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from pdic.errors import InventoryError, PdicError

app = typer.Typer(
    help="Provision, monitor and audit a provincial Data Integration Centre.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
inventory_app = typer.Typer(help="Read and validate inventories.", no_args_is_help=True)
lab_app = typer.Typer(help="A lab centre of real booted hosts on this machine.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
app.add_typer(lab_app, name="lab")

DEFAULT_INVENTORY = Path("inventory/lab")

InventoryOpt = Annotated[
    Path,
    typer.Option("--inventory", "-i", help="Inventory directory (hosts.yml, group_vars/, host_vars/)."),
]
LimitOpt = Annotated[
    str | None,
    typer.Option("--limit", "-l", help="Hosts or groups, comma-separated (Ansible patterns)."),
]


@inventory_app.command("check")
def inventory_check(inventory: InventoryOpt = DEFAULT_INVENTORY) -> None:
    """Validate an inventory: one line per problem (file: key: what is wrong), exit 2 if any."""
    from pdic.inventory import check_inventory

    problems = check_inventory(inventory)
    if problems:
        raise InventoryError(problems)
    typer.echo(f"{inventory}: inventory is valid")


@inventory_app.command("hosts")
def inventory_hosts(inventory: InventoryOpt = DEFAULT_INVENTORY, limit: LimitOpt = None) -> None:
    """List the hosts of an inventory with their address and groups."""
    from pdic.inventory import load_inventory

    inv = load_inventory(inventory)
    for host in inv.select(limit):
        typer.echo(f"{host.name}\t{host.address}\t{','.join(host.groups)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="pdic", standalone_mode=False)
    except PdicError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"pdic: error: {line}", file=sys.stderr)
        return 2
    except click.exceptions.Abort:
        print("pdic: aborted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except KeyboardInterrupt:
        print("pdic: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

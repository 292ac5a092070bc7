"""``petrosa-infra up|down|env``: local NATS, PostgreSQL and FerretDB for dev and tests."""

from __future__ import annotations

import sys

from petrosa_common.cli import command_line

from petrosa_devtools import infra


def main() -> None:
    """Command-line entry point."""
    parser = command_line(
        "petrosa-infra", description=__doc__ or "", distribution="petrosa-devtools"
    )
    parser.add_argument("command", choices=["up", "down", "env", "build-ferretdb"])
    parser.add_argument(
        "--ferretdb-handler",
        choices=infra.FERRETDB_HANDLERS,
        help="backend of a FerretDB that `up` starts (default: FERRETDB_HANDLER, else "
        f"{infra.DEFAULT_FERRETDB_HANDLER}); a server already answering is reused as it is",
    )
    args = parser.parse_args()
    try:
        if args.command == "up":
            infra.up(handler=args.ferretdb_handler)
        elif args.command == "down":
            infra.down()
            print("infrastructure stopped", file=sys.stderr)
        elif args.command == "build-ferretdb":
            print(infra.ferretdb_binary())
        else:
            urls = infra.read_env()
            if urls is None:
                sys.exit("no .run/infra.env: run `make infra-up` first")
            for key, value in urls.as_env().items():
                print(f"export {key}={value}")
    except infra.InfraError as exc:
        sys.exit(f"petrosa-infra: {exc}")


if __name__ == "__main__":
    main()

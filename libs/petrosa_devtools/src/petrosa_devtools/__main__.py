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
    args = parser.parse_args()
    try:
        if args.command == "up":
            infra.up()
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

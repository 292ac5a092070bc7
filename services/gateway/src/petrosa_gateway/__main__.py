"""Entry point of petrosa-gateway: not implemented yet, so it says so and exits non-zero."""

import sys


def main() -> None:
    """Refuse to run: this service has no behaviour yet (see the open issues)."""
    print("petrosa-gateway is not implemented yet", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()

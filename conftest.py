"""Root pytest configuration: real-server fixtures for every package's tests (and pytest's own
``pytester``, with which the fixtures' clean-up is tested)."""

pytest_plugins = ["petrosa_devtools.pytest_plugin", "pytester"]

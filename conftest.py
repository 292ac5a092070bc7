"""Root pytest configuration: real-server fixtures for every package's tests."""

pytest_plugins = ["petrosa_devtools.pytest_plugin"]

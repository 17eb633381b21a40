"""Bundled scenarios and their feeder data (loaded by name with ``load_scenario``)."""

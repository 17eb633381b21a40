"""intperf: load testing, live performance analytics and optimization advice.

Importing the package has no side effects; state hangs off explicit context objects.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

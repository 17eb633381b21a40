"""The web dashboard: one HTML shell at ``/dashboard`` and its ES modules under
``/dashboard/static/`` (docs/dashboard.md). The page holds no data; it reads the JSON API with
the API key the user signs in with."""

from intperf.service.dashboard.pages import router, vendor_dir

__all__ = ["router", "vendor_dir"]

"""The intperf service: FastAPI app, executor, scheduler, alerts."""

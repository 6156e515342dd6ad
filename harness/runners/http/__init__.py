"""The HTTP runner: apps served in their own processes (appserver), loaded by locust (locust,
recorder: the recorder runs inside locust, so this package imports nothing at its top)."""

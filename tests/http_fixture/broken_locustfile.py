"""A locustfile that cannot even be imported: locust exits at once."""

raise SystemExit("this locustfile is broken on purpose")

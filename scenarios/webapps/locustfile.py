"""The load the `http` scenario puts on an app: one endpoint per grid point, random ids.

Run by the harness as `locust -f scenarios/webapps/locustfile.py --headless ...` with `PB_LOAD_*`
settings in the environment (see harness/runners/http/recorder.py). Every user draws its ids from its
own seeded generator, so two apps under test get the same sequence of requests.
"""

from __future__ import annotations

import itertools
import random

from locust import FastHttpUser, between, constant, constant_throughput, events, task

from harness.runners.http.recorder import LoadSettings, install

SETTINGS = LoadSettings.from_env()
install(events, SETTINGS)
_SEEDS = itertools.count(1)


def _wait_time():
    if SETTINGS.per_user_rate() > 0:
        return constant_throughput(SETTINGS.per_user_rate())
    think = float(SETTINGS.params.get("think_s", 0) or 0)
    return between(0.5 * think, 1.5 * think) if think else constant(0)


class ApiUser(FastHttpUser):
    """One client of the API, hitting the grid point's endpoint again and again."""

    wait_time = _wait_time()

    def on_start(self) -> None:
        self.rng = random.Random(next(_SEEDS))
        self.users = int(SETTINGS.dataset.get("users", 1000))
        self.posts = int(SETTINGS.dataset.get("posts", 10_000))
        self.endpoint = str(SETTINGS.params.get("endpoint", "user"))
        self.sent = 0

    @task
    def hit(self) -> None:
        user_id = self.rng.randint(1, self.users)
        self.sent += 1
        if self.endpoint == "user":
            self.client.get(f"/users/{user_id}", name="GET /users/{id}")
        elif self.endpoint == "activity":
            self.client.get(f"/users/{user_id}/activity?limit=10", name="GET /users/{id}/activity")
        elif self.endpoint == "posts_page":
            after = self.rng.randint(0, max(0, self.posts - 20))
            self.client.get(f"/posts?after={after}&limit=20", name="GET /posts")
        elif self.endpoint == "create_post":
            body = {"user_id": user_id, "title": f"load {self.sent}", "body": "written under load"}
            self.client.post("/posts", json=body, name="POST /posts")
        else:
            raise ValueError(f"unknown endpoint {self.endpoint!r}")

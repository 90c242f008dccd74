"""What a bearer token costs per request, in process, against an unauthenticated baseline.

    python benchmarks/token_auth.py [--requests 2000]

On a throwaway PostgreSQL database (as the other benchmarks), through Flask's test client so that
no network or load generator competes for the cores, it times ``GET /api/v1/me``:

1. ``/healthz`` (same app, no auth, no database): the baseline of this run;
2. with the token cache on (AUTH_CACHE_SECONDS=5) — the storefront's steady state;
3. with the cache off and ``last_used_at`` already fresh: one token read per request;
4. with the cache off and ``last_used_at`` a minute old before every request: the read plus the
   conditional UPDATE, i.e. what a token costs once a minute at most.

It prints the median and p99 in microseconds and each path's cost over the baseline. The figures
are noisy when the machine is shared; compare them within one run only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from typing import Any

from _setup import throwaway_database


def timed(
    client: Any, path: str, headers: dict[str, str], n: int, before: Any = None
) -> list[float]:
    out = []
    for _ in range(n):
        if before is not None:
            before()
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        out.append((time.perf_counter() - start) * 1e6)
        assert response.status_code == 200, response.get_data(as_text=True)
    return out


def summary(name: str, samples: list[float], baseline: float | None) -> None:
    median = statistics.median(samples)
    p99 = statistics.quantiles(samples, n=100)[98]
    extra = f"  +{median - baseline:7.0f} µs over baseline" if baseline is not None else ""
    print(f"{name:<44} median {median:7.0f} µs  p99 {p99:7.0f} µs{extra}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    from sqlalchemy import update

    from accounts import services
    from accounts.models import ApiToken
    from app import create_app
    from core.db import UnitOfWork, dispose, utcnow

    with throwaway_database("bench_auth") as url:
        results: dict[str, list[float]] = {}
        for label, cache_seconds in (("cached", 5.0), ("uncached", 0.0)):
            app = create_app(
                {"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "AUTH_CACHE_SECONDS": cache_seconds}
            )
            with app.app_context():
                if label == "cached":
                    services.create_user("bench-auth", ["storefront"])
                token = services.create_token("bench-auth", label)
            headers = {"Authorization": f"Bearer {token.token}"}
            client = app.test_client()

            def age_last_used(token_id: int = token.id, app: Any = app) -> None:
                with app.app_context(), UnitOfWork() as uow:
                    uow.session.execute(
                        update(ApiToken)
                        .where(ApiToken.id == token_id)
                        .values(last_used_at=utcnow() - timedelta(minutes=2))
                    )
                    uow.commit()

            timed(client, "/api/v1/me", headers, 50)  # warm up pools and caches
            if label == "cached":
                results["1. /healthz (baseline, no auth)"] = timed(
                    client, "/healthz", {}, args.requests
                )
                results["2. /me, token cache on"] = timed(
                    client, "/api/v1/me", headers, args.requests
                )
            else:
                results["3. /me, cache off, last used fresh"] = timed(
                    client, "/api/v1/me", headers, args.requests
                )
                results["4. /me, cache off, last used written"] = timed(
                    client, "/api/v1/me", headers, args.requests // 4, before=age_last_used
                )
            dispose(app)
    baseline = statistics.median(results["1. /healthz (baseline, no auth)"])
    for name, samples in results.items():
        summary(name, samples, None if name.startswith("1.") else baseline)


if __name__ == "__main__":
    main()

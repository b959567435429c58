"""Prometheus /metrics: request counts by route template, tickets by status, outbox backlog, classifier latency."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_not_raw_path(client, report):
    ticket = report()
    client.get(f"/open311/v2/requests/{ticket.number}.json")
    client.get("/open311/v2/requests/GB00000000-0000.json")
    samples = scrape(client)
    route = "/open311/v2/requests/{service_request_id}.{fmt}"
    assert value(samples, "gridbot_http_requests_total", method="GET", route=route, status="200") == 1
    assert value(samples, "gridbot_http_requests_total", method="GET", route=route, status="404") == 1
    assert not any(ticket.number in str(labels) for _, labels in samples)
    assert value(samples, "gridbot_http_request_duration_seconds_count", method="GET", route=route) == 2


def test_tickets_by_status_and_light_follow_the_database(client, session, report):
    first, second = report(), report("垃圾没人清运", openid="o_2")
    second.status, second.light = "closed", "green"
    first.light = "red"
    session.commit()
    samples = scrape(client)
    assert value(samples, "gridbot_tickets", status="dispatched") == 1
    assert value(samples, "gridbot_tickets", status="closed") == 1
    assert value(samples, "gridbot_open_tickets_by_light", light="red") == 1


def test_outbox_backlog_counts_pending_notifications(client, session, report):
    from sqlalchemy import func, select

    from backend.db.models import Notification

    report()
    pending = session.scalar(select(func.count()).select_from(Notification).where(Notification.status == "pending"))
    assert pending > 0  # the dispatch notified the gridworker and the resident
    samples = scrape(client)
    assert value(samples, "gridbot_outbox_notifications", status="pending") == pending
    assert 0 < value(samples, "gridbot_outbox_oldest_pending_seconds") < 60  # stamped just now (wall clock)


def test_classifier_latency_is_observed_on_intake(client, runtime, report):
    before = value(scrape(client), "gridbot_classifier_latency_seconds_count")
    report(category=None)
    assert value(scrape(client), "gridbot_classifier_latency_seconds_count") == before + 1
    # A report whose category is already known is not classified again.
    report("路灯坏了", category="street_lights", openid="o_2")
    assert value(scrape(client), "gridbot_classifier_latency_seconds_count") == before + 1


def test_health_endpoint_reports_the_database(client):
    resp = client.get("/health")
    assert resp.status_code == 200 and resp.json()["database"] == "up"

"""`foxden webhooks` and `foxden usage` through the real command, against a live farm."""

from __future__ import annotations

import json

import pytest

from tests.cli.clikit import CliFarm


def test_webhooks_add_list_deliveries_remove(farm: CliFarm) -> None:
    added = farm.run(
        "webhooks", "add", "https://hooks.example.com/foxden", "--event", "task_done",
        "--event", "frame_failed",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    first, second = added.stdout.splitlines()
    assert first.startswith("webhook ") and "task_done, frame_failed" in first
    assert "shown this once" in second and second.split()[-1].startswith("fdw_")
    hook_id = int(first.split()[1].rstrip(":"))
    listed = farm.run("webhooks", "list")
    assert listed.returncode == 0 and "https://hooks.example.com/foxden" in listed.stdout
    assert "fdw_" not in listed.stdout  # the secret is never shown again
    task_id = farm.submit("1")
    farm.fail_once(task_id, "", "camera 'CamC' not found")  # a deterministic failure
    shown = farm.run("webhooks", "deliveries", "--json")
    assert shown.returncode == 0, shown.stderr
    log = json.loads(shown.stdout)
    assert [(d["event"], d["task_id"]) for d in log] == [("frame_failed", task_id)]
    table = farm.run("webhooks", "deliveries")
    assert "frame_failed" in table.stdout and "STATE" in table.stdout
    bad = farm.run("webhooks", "add", "ftp://example.com/x")
    assert bad.returncode != 0 and "http(s)" in bad.stderr
    assert farm.run("webhooks", "remove", str(hook_id)).returncode == 0
    again = farm.run("webhooks", "remove", str(hook_id))
    assert again.returncode != 0 and f"no webhook {hook_id}" in again.stderr
    assert "no webhooks" in farm.run("webhooks", "list").stdout


def test_usage_shows_what_was_used_and_refuses_others_to_users(farm: CliFarm) -> None:
    task_id = farm.submit("1-2")
    lease = farm.worker.post("/api/worker/claim", json={}).json()
    results = [{"frame": f, "status": "done", "render_time": 1800.0} for f in lease["frames"]]
    reply = farm.worker.post(
        f"/api/worker/leases/{lease['lease_id']}/frames", json={"results": results}
    )
    reply.raise_for_status()
    shown = farm.run("usage", "--by", "task", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert [(line["task_id"], line["frames"]) for line in report["lines"]] == [
        (task_id, len(lease["frames"]))
    ]
    assert report["core_seconds"] == pytest.approx(1800.0 * len(lease["frames"]))
    table = farm.run("usage", "--since", "7d")
    assert table.returncode == 0 and "CORE-H" in table.stdout and "total" in table.stdout
    refused = farm.run("usage", "--all")
    assert refused.returncode != 0 and "administrator" in refused.stderr
    bad = farm.run("usage", "--since", "someday")
    assert bad.returncode != 0 and "not a date" in bad.stderr


def test_submit_with_a_webhook_prints_its_secret_once(farm: CliFarm) -> None:
    done = farm.run(
        "submit", "--project", "p", "--scene", "/proj/shot/a.ma", "--frames", "1",
        "--webhook", "https://example.com/hooks/shot",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    task_id = int(done.stdout.split()[1])
    secret_line = [line for line in done.stderr.splitlines() if "webhook secret" in line]
    assert len(secret_line) == 1 and secret_line[0].split()[-1].startswith("fdw_")
    hooks = json.loads(farm.run("webhooks", "list", "--json").stdout)
    assert [(h["url"], h["task_id"]) for h in hooks] == [
        ("https://example.com/hooks/shot", task_id)
    ]
    refused = farm.run(
        "submit", "--project", "p", "--scene", "/proj/shot/a.ma", "--frames", "1",
        "--webhook", "mailto:me@example.com",
    )  # fmt: skip
    assert refused.returncode != 0 and "http(s)" in refused.stderr

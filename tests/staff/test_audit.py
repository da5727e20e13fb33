"""The trail at /admin/audit: every staff action, newest first, paged."""

from __future__ import annotations

from creditapp.staff import trail


def test_the_trail_lists_actions_newest_first_with_actor_reason_and_outcome(staff_client, act, customer):
    act(customer, "grant", amount="10", reason="First reason")
    act(customer, "take_back", amount="3", reason="Second reason")

    page = staff_client.get("/admin/audit").get_data(as_text=True)

    assert page.index("Second reason") < page.index("First reason")
    assert "support@example.com" in page and "casey@example.com" in page
    assert "Granted 10 credits" in page


def test_the_trail_is_paged(app, staff, customer, monkeypatch, staff_client, act):
    monkeypatch.setattr(trail, "PAGE_SIZE", 2)
    for n in range(3):
        act(customer, "grant", amount=str(n + 1), reason=f"reason {n}")

    first = staff_client.get("/admin/audit").get_data(as_text=True)
    assert "reason 2" in first and "reason 1" in first and "reason 0" not in first
    older = [line for line in trail.page(limit=2)][-1].action.id
    assert "reason 0" in staff_client.get(f"/admin/audit?before={older}").get_data(as_text=True)

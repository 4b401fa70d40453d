from events.services import emit


def test_events_are_read_only_in_the_admin_and_link_to_their_chain(admin_client):
    event = emit("intent", {"action": "note"}, source="user:ada", run_id="r1")
    changelist = admin_client.get("/admin/events/event/")
    assert changelist.status_code == 200
    assert f"?q={event.correlation_id}".encode() in changelist.content
    assert f"/api/v1/events/chains/{event.correlation_id}".encode() in changelist.content
    assert admin_client.get("/admin/events/event/add/").status_code == 403
    page = admin_client.get(f"/admin/events/event/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content


def test_admin_search_by_correlation_and_run_and_filter_by_type(admin_client):
    one = emit("intent", {"action": "note"}, source="x", run_id="r1")
    emit("intent", {"action": "note"}, source="x", run_id="r2")
    found = admin_client.get(f"/admin/events/event/?q={one.correlation_id}")
    assert found.context["cl"].result_count == 1
    assert admin_client.get("/admin/events/event/?q=r2").context["cl"].result_count == 1
    assert admin_client.get("/admin/events/event/?q=not-a-uuid").status_code == 200
    assert admin_client.get("/admin/events/event/?type=fill").context["cl"].result_count == 0

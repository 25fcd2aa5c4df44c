def test_dashboard_for_member(client, login, make_tenant):
    tenant = make_tenant(name="Acme")
    login(tenant=tenant, role="viewer")
    response = client.get(f"/t/{tenant.slug}/")
    assert response.status_code == 200
    assert "Acme" in response.get_data(as_text=True)

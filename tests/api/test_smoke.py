def test_health(anonymous):
    assert anonymous.get("/healthz").status_code == 200
    r = anonymous.get("/readyz")
    assert r.status_code == 200, r.json

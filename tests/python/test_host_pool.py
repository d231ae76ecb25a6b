"""host and pool: what XenAPI.Session.API_version and clients that start with
pool.get_all_records need; names and refs survive restarts."""

import uuid

import XenAPI


def test_api_version_property(server):
    s = XenAPI.Session(server.url)
    s.xenapi.login_with_password("root", server.password, "1.0", "xapid-tests")
    try:
        assert s.API_version == "2.21"
    finally:
        s.xenapi.session.logout()


def test_one_pool_whose_master_is_the_one_host(x, host_ref):
    pools = x.pool.get_all_records()
    assert len(pools) == 1
    (pool_ref, pool), = pools.items()
    assert pool["master"] == host_ref
    for field in ("uuid", "name_label", "master", "other_config"):
        assert field in pool, field
    assert x.pool.get_all() == [pool_ref]
    assert x.pool.get_master(pool_ref) == host_ref
    assert x.pool.get_by_uuid(pool["uuid"]) == pool_ref
    assert x.host.get_all() == [host_ref]


def test_host_record(x, host_ref):
    rec = x.host.get_record(host_ref)
    for field in ("uuid", "name_label", "name_description", "API_version_major",
                  "API_version_minor", "software_version", "other_config"):
        assert field in rec, field
    uuid.UUID(rec["uuid"])
    assert rec["API_version_major"] == "2"
    assert rec["API_version_minor"] == "21"
    assert isinstance(rec["software_version"], dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in rec["software_version"].items())
    assert isinstance(rec["other_config"], dict)
    assert x.host.get_by_uuid(rec["uuid"]) == host_ref
    assert x.host.get_all_records() == {host_ref: rec}
    assert x.host.get_API_version_major(host_ref) == "2"


def test_host_and_pool_setters(make_server):
    srv = make_server()
    x = srv.sdk().xenapi
    host = x.host.get_all()[0]
    x.host.add_to_other_config(host, "k", "v")
    x.host.set_name_description(host, "described")
    assert x.host.get_other_config(host)["k"] == "v"
    assert x.host.get_name_description(host) == "described"
    label = x.host.get_name_label(host)
    assert host in x.host.get_by_name_label(label)
    pool = x.pool.get_all()[0]
    x.pool.set_name_label(pool, "my-pool")
    assert x.pool.get_name_label(pool) == "my-pool"


def test_names_and_refs_survive_restarts(make_server):
    srv = make_server()
    x = srv.sdk().xenapi
    host = x.host.get_all()[0]
    pool = x.pool.get_all()[0]
    host_uuid, pool_uuid = x.host.get_uuid(host), x.pool.get_uuid(pool)
    x.host.set_name_label(host, "renamed-host")
    x.pool.add_to_other_config(pool, "kept", "yes")

    for crash in (False, True):
        srv.restart(crash=crash)
        x = srv.sdk().xenapi
        assert x.host.get_all() == [host]
        assert x.pool.get_all() == [pool]
        assert x.host.get_uuid(host) == host_uuid
        assert x.pool.get_uuid(pool) == pool_uuid
        assert x.host.get_name_label(host) == "renamed-host"
        assert x.pool.get_master(pool) == host
        assert x.pool.get_other_config(pool).get("kept") == "yes"

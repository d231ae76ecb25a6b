"""XML-RPC on the wire: exact reply bytes, headers, routing, and the input
forms real clients send."""

import re
import xmlrpc.client

import pytest
import XenAPI

from xapid_rpc import REF_RE, failure_bytes, success_bytes

LOGIN_REPLY_RE = re.compile(
    rb'^<\?xml version="1\.0"\?><methodResponse><params><param><value><struct>'
    rb"<member><name>Status</name><value>Success</value></member>"
    rb"<member><name>Value</name><value>OpaqueRef:[0-9a-f-]{36}</value></member>"
    rb"</struct></value></param></params></methodResponse>$"
)


def login_body(password: str) -> bytes:
    return (
        "<methodCall><methodName>session.login_with_password</methodName><params>"
        f"<param><value>root</value></param><param><value>{password}</value></param>"
        "</params></methodCall>"
    ).encode()


def call_body(method: str, *values: str) -> bytes:
    """A compact request whose params are given as raw `<value>` XML."""
    params = "".join(f"<param>{v}</param>" for v in values)
    return f"<methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>".encode()


# -- replies -----------------------------------------------------------------


def test_login_reply_is_compact_xapi_xml(server, raw):
    reply = raw.post(login_body(server.password))
    assert reply.status == 200
    assert reply.header("content-type") == "text/xml"
    assert reply.header("access-control-allow-origin") == "*"
    assert LOGIN_REPLY_RE.match(reply.body), reply.body


@pytest.mark.parametrize("path", ["/", "/RPC2", "/xmlrpc", "/some/other/path"])
def test_xmlrpc_on_any_post_path(server, raw, path):
    reply = raw.post(login_body(server.password), path=path)
    assert reply.status == 200
    assert LOGIN_REPLY_RE.match(reply.body), reply.body


def test_request_content_type_does_not_matter(server, raw):
    reply = raw.post(login_body(server.password),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert LOGIN_REPLY_RE.match(reply.body), reply.body


def test_int_is_an_untyped_decimal_string(raw, session, host_ref):
    reply, value = raw.reply("host.get_API_version_major", session, host_ref)
    assert reply.body == success_bytes(b"<value>2</value>")
    assert value["Value"] == "2"
    reply, _ = raw.reply("host.get_API_version_minor", session, host_ref)
    assert reply.body == success_bytes(b"<value>21</value>")


def test_new_task_progress_status_and_finished_bytes(raw, session):
    t = raw.ok("task.create", session, "bytes", "")
    assert raw.reply("task.get_progress", session, t)[0].body == success_bytes(
        b"<value><double>0</double></value>")
    assert raw.reply("task.get_status", session, t)[0].body == success_bytes(
        b"<value>pending</value>")
    assert raw.reply("task.get_finished", session, t)[0].body == success_bytes(
        b"<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>")


def test_datetime_format(raw, session):
    t = raw.ok("task.create", session, "dt", "")
    body = raw.reply("task.get_created", session, t)[0].body
    assert re.fullmatch(
        re.escape(success_bytes(b"<value><dateTime.iso8601>@</dateTime.iso8601></value>")).replace(
            b"@", rb"\d{8}T\d\d:\d\d:\d\dZ"),
        body,
    ), body


def test_boolean_and_void_bytes(raw, session):
    assert raw.reply("session.get_is_local_superuser", session, session)[0].body == success_bytes(
        b"<value><boolean>1</boolean></value>")
    t = raw.ok("task.create", session, "void", "")
    assert raw.reply("task.set_result", session, t, "r")[0].body == success_bytes(b"<value></value>")


@pytest.mark.parametrize("progress,text", [
    (0.5, b"0.5"),
    (1 / 3, b"0.3333333333333333"),
    (0.1 + 0.2, b"0.3"),  # %.16g, not the shortest round-trip form
    (1e-20, b"9.999999999999999e-21"),  # C/Python %.16g of the double nearest 1e-20
    (1.0, b"1"),
])
def test_double_is_printed_like_c_16g(raw, session, progress, text):
    t = raw.ok("task.create", session, "double", "")
    raw.ok("task.set_progress", session, t, progress)
    assert raw.reply("task.get_progress", session, t)[0].body == success_bytes(
        b"<value><double>" + text + b"</double></value>")


def test_failure_reply_bytes(server, raw, session):
    reply, _ = raw.reply("task.get_record", session, "junk")
    assert reply.status == 200
    assert reply.header("content-type") == "text/xml"
    assert reply.header("access-control-allow-origin") == "*"
    assert reply.body == failure_bytes("HANDLE_INVALID", "task", "junk")


def test_strings_are_escaped(raw, session):
    t = raw.ok("task.create", session, "a<b>&\"c'", "")
    reply, value = raw.reply("task.get_name_label", session, t)
    assert reply.body == success_bytes(b"<value>a&lt;b&gt;&amp;&quot;c'</value>")
    assert value["Value"] == "a<b>&\"c'"


def test_unicode_round_trip(raw, session):
    label = "t\u00e2che \u4efb\u52a1 \U0001f680"
    t = raw.ok("task.create", session, label, "")
    assert raw.ok("task.get_name_label", session, t) == label


# -- system.listMethods ------------------------------------------------------


def test_list_methods_is_a_bare_array(raw):
    value = raw.call("system.listMethods")
    assert isinstance(value, list), value
    for m in ["task.get_all_records", "session.login_with_password", "task.create",
              "host.get_API_version_major", "pool.get_all_records"]:
        assert m in value


@pytest.mark.parametrize("params", ["<params/>", "<params></params>"])
def test_list_methods_with_empty_params(raw, params):
    _, value = raw.post_call(
        f"<methodCall><methodName>system.listMethods</methodName>{params}</methodCall>".encode())
    assert "task.get_all" in value


def test_list_methods_through_the_sdk(server):
    # XenAPI.Session passes unknown attributes to ServerProxy (no session).
    assert "session.logout" in XenAPI.Session(server.url).system.listMethods()


# -- input tolerance ---------------------------------------------------------


def test_python_whitespace_laden_requests(raw, session):
    body = xmlrpc.client.dumps((session, "py", "desc"), methodname="task.create").encode()
    assert b"\n" in body and b"<string>" in body
    _, value = raw.post_call(body)
    assert REF_RE.match(value["Value"])


def test_pretty_printed_request_with_crlf(raw, session):
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>\r\n"
        "<methodCall>\r\n  <methodName>task.create</methodName>\r\n  <params>\r\n"
        f"    <param>\r\n      <value>\r\n        <string>{session}</string>\r\n      </value>\r\n    </param>\r\n"
        "    <param>\r\n      <value>  spaced  </value>\r\n    </param>\r\n"
        "    <param><value><string></string></value></param>\r\n"
        "  </params>\r\n</methodCall>\r\n"
    ).encode()
    _, value = raw.post_call(body)
    t = value["Value"]
    assert raw.ok("task.get_name_label", session, t) == "  spaced  "
    assert raw.ok("task.get_name_description", session, t) == ""


def test_typed_and_untyped_strings(raw, session):
    _, v = raw.post_call(call_body("task.create", f"<value>{session}</value>",
                                   "<value><string>typed</string></value>", "<value>untyped</value>"))
    t = v["Value"]
    rec = raw.ok("task.get_record", session, t)
    assert (rec["name_label"], rec["name_description"]) == ("typed", "untyped")


def test_empty_value_forms_are_empty_strings(raw, session):
    _, v = raw.post_call(call_body("task.create", f"<value>{session}</value>",
                                   "<value/>", "<value><string/></value>"))
    t = v["Value"]
    rec = raw.ok("task.get_record", session, t)
    assert (rec["name_label"], rec["name_description"]) == ("", "")


def test_character_references_are_decoded(raw, session):
    _, v = raw.post_call(call_body("task.create", f"<value>{session}</value>",
                                   "<value>x&lt;&amp;&#65;&#x42;</value>", "<value></value>"))
    assert raw.ok("task.get_name_label", session, v["Value"]) == "x<&AB"


@pytest.mark.parametrize("value,expected", [
    ("<value><i4>0</i4></value>", 0.0),
    ("<value><int>1</int></value>", 1.0),
    ("<value><i8>1</i8></value>", 1.0),
    ("<value>0.25</value>", 0.25),
    ("<value><string>0.5</string></value>", 0.5),
    ("<value><double>0.75</double></value>", 0.75),
])
def test_numbers_in_every_form(raw, session, value, expected):
    t = raw.ok("task.create", session, "num", "")
    _, v = raw.post_call(call_body("task.set_progress", f"<value>{session}</value>",
                                   f"<value>{t}</value>", value))
    assert v["Status"] == "Success", v
    assert raw.ok("task.get_progress", session, t) == expected


@pytest.mark.parametrize("status", ["SUCCESS", "Success", "success"])
def test_enums_in_any_case(raw, session, status):
    t = raw.ok("task.create", session, "enum", "")
    raw.ok("task.set_status", session, t, status)
    assert raw.ok("task.get_status", session, t) == "success"


def test_nil_is_accepted_by_the_parser(raw, session):
    # <nil/> where a string is expected: a typed error, not a 400.
    assert raw.fail("task.create", session, None, "d") == ["FIELD_TYPE_ERROR", "label"]
    assert raw.fail("task.get_all", None)[0] == "SESSION_INVALID"


def test_underscore_aliases(raw, session, host_ref):
    t = raw.ok("task.create", session, "alias", "")
    assert raw.ok("task_get_record", session, t)["name_label"] == "alias"
    assert raw.ok("session_get_this_host", session, session) == host_ref
    assert t in raw.ok("task_get_all", session)


def test_cors_headers_on_every_reply(raw, session):
    reply, _ = raw.reply("task.get_all", session)
    assert reply.header("access-control-allow-origin") == "*"

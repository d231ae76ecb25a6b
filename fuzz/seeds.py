#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into fuzz/seeds/<target>/
(run.sh starts each fuzzer from them and the committed corpus).
qcow2 seeds are made by qemu-img (Debian's qemu-utils)."""
import json, os, struct, subprocess, sys, tempfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# XML-RPC
vals = ["<value>plain</value>", "<value><string>s &amp; &lt;x&gt; &#13;</string></value>",
        "<value><int>-42</int></value>", "<value><i4>7</i4></value>", "<value><ex:i8>9</ex:i8></value>",
        "<value><boolean>1</boolean></value>", "<value><double>-1.5e300</double></value>",
        "<value><dateTime.iso8601>20240102T03:04:05Z</dateTime.iso8601></value>",
        "<value><base64>aGVsbG8=</base64></value>", "<value><nil/></value>", "<value/>",
        "<value><array><data><value>a</value><value><int>1</int></value></data></array></value>",
        "<value><struct><member><name>k</name><value>v</value></member><member><name>k</name><value><int>2</int></value></member></struct></value>"]
for i, v in enumerate(vals):
    put("xmlrpc", f"call{i}", f"<?xml version='1.0'?>\n<methodCall>\n<methodName>VM.get_record</methodName>\n<params>\n<param>{v}</param>\n</params>\n</methodCall>\n")
    put("xmlrpc", f"value{i}", v)
put("xmlrpc", "login", "<methodCall><methodName>session.login_with_password</methodName><params><param><value>root</value></param><param><value>pw</value></param></params></methodCall>")
put("xmlrpc", "noparams", "<methodCall><methodName>system.listMethods</methodName><params/></methodCall>")
put("xmlrpc", "reply", "<?xml version='1.0'?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>OpaqueRef:1</value></member></struct></value></param></params></methodResponse>")
put("xmlrpc", "fault", "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member></struct></value></fault></methodResponse>")

# JSON-RPC
for i, p in enumerate([[], ["root", "pw"], [1, -2, 3.5, True, None, "x\u00e9\\n"], [{"a": [1, {"b": "c"}]}], [18446744073709551615, 1e308, -0.0]]):
    put("jsonrpc", f"v2_{i}", json.dumps({"jsonrpc": "2.0", "method": "session.login_with_password", "params": p, "id": i}))
    put("jsonrpc", f"v1_{i}", json.dumps({"method": "VM.get_all", "params": p, "id": str(i)}))

# HTTP: 8 bytes of size, Range header, newline, query
for i, (size, rng, q) in enumerate([(1000, "bytes=0-99", "session_id=OpaqueRef:abc&vdi=OpaqueRef:def"),
                                   (1001, "bytes=-100", "session_id=a%20b+c&task_id=t&offset=512"),
                                   (0, "bytes=5-", "base=OpaqueRef:x&since=2024&x=%zz%4"),
                                   (12345, "bytes=1-2,3-4", "vdi=%E2%82%AC")]):
    put("http_data", f"s{i}", struct.pack("<Q", size) + f"{rng}\n{q}".encode())

# qcow2 images by qemu-img
with tempfile.TemporaryDirectory() as t:
    def img(name, *args):
        p = os.path.join(t, name)
        *opts, size = args
        subprocess.run(["qemu-img", "create", "-q", "-u", "-f", "qcow2", *opts, p, size], check=True)
        return p
    def head(p, n=4096):
        return open(p, "rb").read(n)
    base = img("base.qcow2", "-o", "cluster_size=512", "1M")
    put("qcow2_header", "plain_v3", head(base))
    put("qcow2_header", "v2", head(img("v2.qcow2", "-o", "compat=0.10", "1M")))
    put("qcow2_header", "backed", head(img("o.qcow2", "-b", "base.qcow2", "-F", "qcow2", "1M")))
    put("qcow2_header", "backed_raw", head(img("r.qcow2", "-b", "/etc/passwd", "-F", "raw", "1M")))
    put("qcow2_header", "backed_up", head(img("u.qcow2", "-b", "../outside", "-F", "raw", "1M")))
    put("qcow2_header", "backed_link", head(img("l.qcow2", "-b", "link", "-F", "raw", "1M")))
    put("qcow2_header", "data_file", head(img("d.qcow2", "-o", "data_file=data.raw", "1M")))
    # Bitmaps: small clusters keep the image small.
    b = img("bm.qcow2", "-o", "cluster_size=512", "256K")
    for name in ["b0", "b1"]:
        subprocess.run(["qemu-img", "bitmap", "--add", "-g", "4096", b, name], check=True)
    subprocess.run(["qemu-io", "-c", "write -P 1 0 64k", b], check=False, capture_output=True)
    put("qcow2_bitmaps", "two_empty", open(b, "rb").read())
    b2 = img("bm2.qcow2", "-o", "cluster_size=512", "64K")
    subprocess.run(["qemu-img", "bitmap", "--add", "-g", "512", b2, "x"], check=True)
    subprocess.run(["qemu-img", "bitmap", "--add", "--disable", "-g", "65536", b2, "y"], check=True)
    put("qcow2_bitmaps", "two", open(b2, "rb").read())
    put("qcow2_bitmaps", "none", open(base, "rb").read())

# NBD: client flags, options, then requests.
IHAVEOPT = 0x49484156454F5054
def opt(code, data=b""):
    return struct.pack(">QII", IHAVEOPT, code, len(data)) + data
def info_req(name, reqs):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + struct.pack(">H", len(reqs)) + b"".join(struct.pack(">H", r) for r in reqs)
def meta(name, qs):
    n = name.encode()
    out = struct.pack(">I", len(n)) + n + struct.pack(">I", len(qs))
    for q in qs:
        out += struct.pack(">I", len(q)) + q.encode()
    return out
def req(cmd, off, ln, flags=0, cookie=1):
    return struct.pack(">IHHQQI", 0x25609513, flags, cmd, cookie, off, ln)
flags = struct.pack(">I", 3)
trans = req(0, 0, 4096) + req(0, 1 << 20, 1) + req(7, 0, 65536, flags=8) + req(5, 0, 0) + req(1, 0, 3) + b"x" * 3 + req(2, 0, 0)
put("nbd", "go", flags + opt(8) + opt(10, meta("disk", ["base:allocation", "qemu:dirty-bitmap:b0"])) + opt(7, info_req("disk", [0, 1, 2, 3])) + trans)
put("nbd", "export_name", struct.pack(">I", 1) + opt(3) + opt(9, meta("", ["qemu:"])) + opt(6, info_req("other", [])) + opt(1, b"disk") + trans)
put("nbd", "abort", flags + opt(5) + opt(2) + opt(0x99, b"zz"))

# xe: arguments a line, NUL, XE_EXTRA_ARGS, NUL, ~/.xe
put("xe_args", "a", "vdi-list\n-s\nhost\n-p\n8080\n--nossl\nparams=uuid\n--minimal\0-u,root,-pw,a\\,b\0server=x\nport=1\n")
put("xe_args", "b", "vm-copy\nnew-name-label=x=y\n--force\nstray\0\0debug=yes\n")
put("xe_args", "c", "--help\0,,\\\\,\0nope\n")

# config
put("config", "full", '''listen = "127.0.0.1:0"
allow_plain_http = false
session_idle_timeout_secs = 5
max_body_bytes = 1048576
max_xml_depth = 64
header_read_timeout_secs = 0.5
audit_log_max_bytes = 4096
[sr]
local = "/srv"
''')
put("config", "bad", 'listen = "0.0.0.0:80"\nbody_idle_timeout_secs = 1e309\nevent_log_capacity = 0\n')
print("seeds in", root)

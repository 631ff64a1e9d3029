#!/usr/bin/env python3
"""Starts and stops a real nginx that serves a fake PyPI, or a cistern mirror, for tests.

    serve.py start --workdir W [--tree T | --profile P --seed N [--faults] [--projects N]]
                   [--extra-conf FILE] [--mirror-web DIR] [--owner-pid PID]
    serve.py reload --workdir W [--tree T]
    serve.py stop --workdir W

`start` makes a throw-away CA and server certificate in W, picks two free loopback ports
(HTTPS with HTTP/2, and plain HTTP/1.1), writes W/nginx.conf, starts nginx with W as its
prefix, waits until both ports accept connections and prints one JSON line describing the
server, also saved as W/server.json. `stop` ends that nginx by the PID in W/server.json.
With --owner-pid, a detached `serve.py watch` stops that nginx once the owner has died (a test
process that aborts never reaches its own `stop`).
Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
NGINX_CONFIG_DIR = os.path.join(SOURCE_DIR, "config", "nginx")
BIND_ATTEMPTS = 5
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
WATCH_INTERVAL_S = 0.5
WATCH_MAX_S = 12 * 3600.0  # a bound: no test runs this long

# Fields tests rely on: the request line, status, body size, Accept, protocol (HTTP/2.0 for
# h2) and the connection serial number, which counts connections.
LOG_FORMAT = ('\'$remote_addr [$time_local] "$request" $status $body_bytes_sent '
              '"$http_accept" $server_protocol $connection "$http_range" '
              '"$http_accept_encoding" "$http_user_agent" $request_time\'')


class StartError(Exception):
    """nginx could not be started; the message is meant for the test log."""


class BindConflict(StartError):
    """A chosen port was taken between choosing it and nginx binding it."""


# --------------------------------------------------------------------------- helpers


def find_nginx() -> str:
    """Path of the nginx binary, or StartError naming the Debian package."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if not found:
        raise StartError("nginx not found: install the Debian package nginx-light "
                         "(apt-get install nginx-light)")
    return found


def free_ports(count: int) -> list[int]:
    """Ports the kernel reports free on 127.0.0.1 (bound together, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Runs a helper command; its failure becomes a StartError with its output."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                            **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise StartError(f"{' '.join(argv)} failed ({result.returncode}):\n"
                         f"{result.stdout}{result.stderr}")
    return result


def make_certificates(workdir: str) -> tuple[str, str, str]:
    """Creates W/ca.pem and a server certificate for 127.0.0.1 and localhost.

    Returns (ca_file, cert_file, key_file). Keys are made at run time and valid for two
    days, so nothing secret is committed and nothing expires in the repository.
    """
    ca_key, ca_pem = os.path.join(workdir, "ca.key"), os.path.join(workdir, "ca.pem")
    key, csr = os.path.join(workdir, "server.key"), os.path.join(workdir, "server.csr")
    pem, ext = os.path.join(workdir, "server.pem"), os.path.join(workdir, "server.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_pem, "-days", "2",
         "-subj", "/CN=cistern test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
    with open(ext, "w") as stream:
        stream.write("basicConstraints=critical,CA:FALSE\n"
                     "keyUsage=critical,digitalSignature\n"
                     "extendedKeyUsage=serverAuth\n"
                     "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                     "subjectKeyIdentifier=hash\n"
                     "authorityKeyIdentifier=keyid,issuer\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
         "-set_serial", "1", "-days", "2", "-out", pem, "-extfile", ext])
    return ca_pem, pem, key


def generate_tree(workdir: str, args: argparse.Namespace, files_base: str) -> str:
    """Runs generate.py into W/upstream (replacing an earlier attempt); returns that dir."""
    out = os.path.join(workdir, "upstream")
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, os.path.join(HERE, "generate.py"), "--out", out,
            "--seed", str(args.seed), "--profile", args.profile, "--files-base", files_base]
    if args.projects:
        argv += ["--projects", str(args.projects)]
    if args.total_mb:
        argv += ["--total-mb", str(args.total_mb)]
    if args.faults:
        argv.append("--faults")
    run(argv)
    return out


def locate_tree(path: str) -> tuple[str, str]:
    """(tree, manifest) for --tree: a generator output dir or the tree inside it."""
    path = os.path.abspath(path)
    if os.path.isdir(os.path.join(path, "tree")):
        manifest = os.path.join(path, "manifest.json")
        return os.path.join(path, "tree"), manifest if os.path.exists(manifest) else ""
    manifest = os.path.join(os.path.dirname(path), "manifest.json")
    return path, manifest if os.path.exists(manifest) else ""


def name_variants(display: str, normalized: str) -> set[str]:
    """Non-normalized spellings a client might use for a project (PEP 503 redirects)."""
    variants = {display, display.lower(), normalized.replace("-", "_"),
                normalized.replace("-", "."), display.upper()}
    variants.discard(normalized)
    return variants


def write_maps(workdir: str, tree: str) -> None:
    """Writes W/serials.conf and W/redirects.conf from the tree's root index, plus the
    quarantined projects of the manifest.json beside the tree (not in the root list).

    $pypi_serial is the X-PyPI-Last-Serial value of a page; $pypi_redirect the normalized URL
    for a display-name URL. Both are exact-match maps, so the lookup cost does not grow with
    the number of projects.
    """
    with open(os.path.join(tree, "simple", "index.v1_json"), "rb") as stream:
        root = json.load(stream)
    projects = root["projects"]
    manifest_path = os.path.join(os.path.dirname(os.path.abspath(tree)), "manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path, "rb") as stream:
            manifest = json.load(stream)
        if manifest.get("root_only"):
            # generate.py --root-only: only the sampled projects have pages; maps for the
            # other ~10^6 names would only slow nginx down.
            sampled = {p["normalized"] for p in manifest["projects"]}
            projects = [p for p in projects
                        if re.sub(r"[-_.]+", "-", p["name"]).lower() in sampled]
        # Quarantined projects are not in the root list, but their page is served (PEP 792).
        projects = projects + [{"name": p["name"], "_last-serial": p["serial"]}
                               for p in manifest.get("quarantined", {}).values()]
    serial_lines, redirect_lines = [f"    /simple/ {root['meta']['_last-serial']};"], []
    seen: set[str] = set()
    for project in projects:
        display = project["name"]
        normalized = re.sub(r"[-_.]+", "-", display).lower()
        serial = project["_last-serial"]
        serial_lines += [f"    /simple/{normalized}/ {serial};",
                         f"    /pypi/{normalized}/json {serial};"]
        for variant in sorted(name_variants(display, normalized)):
            # nginx's map matches strings case-insensitively: one key per lowercase form.
            if variant.lower() in seen or variant.lower() == normalized:
                continue
            seen.add(variant.lower())
            redirect_lines += [f'    "/simple/{variant}/" /simple/{normalized}/;',
                               f'    "/simple/{variant}" /simple/{normalized}/;',
                               f'    "/pypi/{variant}/json" /pypi/{normalized}/json;']
    with open(os.path.join(workdir, "serials.conf"), "w") as stream:
        stream.write("# Generated by serve.py from simple/index.v1_json.\n"
                     "map $uri $pypi_serial_key {\n    default \"\";\n"
                     '    "~^(?<page>/simple/([^/]+/)?)(index\\.[a-z0-9_]+)?$" $page;\n'
                     '    "~^(?<api>/pypi/[^/]+/json)$" $api;\n}\n'
                     "map $pypi_serial_key $pypi_serial {\n    default \"\";\n"
                     + "\n".join(serial_lines) + "\n}\n")
    with open(os.path.join(workdir, "redirects.conf"), "w") as stream:
        stream.write("# Generated by serve.py from simple/index.v1_json.\n"
                     "map $uri $pypi_redirect {\n    default \"\";\n"
                     + "\n".join(redirect_lines) + "\n}\n")


def nginx_conf(workdir: str, ports: dict[str, int], root: str, cert: str, key: str,
               extra_conf: Optional[str], mirror: bool) -> str:
    """The complete nginx.conf: one HTTPS+h2 and one plain server over the same root."""
    temp = os.path.join(workdir, "tmp")
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read 0700 temp dirs
    if mirror:
        maps = ""
        locations = os.path.join(NGINX_CONFIG_DIR, "cistern-locations.conf")
    else:
        maps = (f"    include {workdir}/serials.conf;\n"
                f"    include {workdir}/redirects.conf;\n")
        locations = os.path.join(HERE, "upstream-locations.conf")
    extra = f"        include {extra_conf};\n" if extra_conf else ""

    def server(listen: str, tls: str) -> str:
        return (f"    server {{\n        listen {listen};\n{tls}"
                f"        root {root};\n{extra}        include {locations};\n    }}\n")

    tls = (f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
           "        ssl_protocols TLSv1.2 TLSv1.3;\n")
    return (
        "# Generated by tools/test_upstream/serve.py.\n"
        f"{user}daemon on;\nworker_processes 1;\npid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log notice;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    log_format cistern_test {LOG_FORMAT};\n"
        f"    access_log {workdir}/access.log cistern_test;\n"
        f"    client_body_temp_path {temp}/client_body;\n"
        f"    proxy_temp_path {temp}/proxy;\n    fastcgi_temp_path {temp}/fastcgi;\n"
        f"    uwsgi_temp_path {temp}/uwsgi;\n    scgi_temp_path {temp}/scgi;\n"
        "    map_hash_max_size 262144;\n    map_hash_bucket_size 256;\n"
        "    keepalive_requests 100000;\n"
        f"    include {NGINX_CONFIG_DIR}/cistern-maps.conf;\n{maps}"
        + server(f"127.0.0.1:{ports['https']} ssl http2", tls)
        + server(f"127.0.0.1:{ports['http']}", "")
        + "}\n")


def start_nginx(nginx: str, workdir: str) -> int:
    """Starts nginx as a daemon with W as prefix; returns the master's PID."""
    pid_file = os.path.join(workdir, "nginx.pid")
    if os.path.exists(pid_file):
        os.remove(pid_file)
    os.makedirs(os.path.join(workdir, "tmp"), exist_ok=True)
    # Output goes to files, never to our stdout: a caller reading our stdout to EOF must
    # not wait for the daemon.
    with open(os.path.join(workdir, "nginx.out"), "wb") as out:
        result = subprocess.run(
            [nginx, "-p", workdir + "/", "-c", os.path.join(workdir, "nginx.conf"),
             "-e", os.path.join(workdir, "error.log")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=60)
    if result.returncode != 0:
        with open(os.path.join(workdir, "nginx.out"), errors="replace") as stream:
            output = stream.read()
        if "Address already in use" in output:
            raise BindConflict(output)
        raise StartError(f"nginx failed to start ({result.returncode}):\n{output}")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with open(pid_file) as stream:
                return int(stream.read().strip())
        except (FileNotFoundError, ValueError):
            time.sleep(0.02)
    raise StartError(f"nginx started but wrote no {pid_file}")


def wait_accepting(ports: list[int]) -> None:
    """Waits (bounded) until every port accepts a TCP connection."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise StartError(f"nginx does not accept on port {port}: {error}")
                time.sleep(0.05)


def process_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def is_our_nginx(pid: int, workdir: str) -> bool:
    """True if `pid` is the nginx master started with `workdir` as prefix."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            cmdline = stream.read().decode(errors="replace")
    except FileNotFoundError:
        return False
    return "nginx" in cmdline and os.path.abspath(workdir) in cmdline


# --------------------------------------------------------------------------- commands


def start(args: argparse.Namespace) -> dict[str, object]:
    """Implements `serve.py start`; returns the server description."""
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    nginx = find_nginx()
    ca, cert, key = make_certificates(workdir)
    extra_conf = None
    if args.extra_conf:
        extra_conf = os.path.join(workdir, "extra.conf")
        shutil.copyfile(args.extra_conf, extra_conf)
    mirror = bool(args.mirror_web)
    manifest = ""
    for attempt in range(1, BIND_ATTEMPTS + 1):
        https_port, http_port = free_ports(2)
        ports = {"https": https_port, "http": http_port}
        https_url, http_url = f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}"
        if mirror:
            root = os.path.abspath(args.mirror_web)
        else:
            if args.tree:
                root, manifest = locate_tree(args.tree)
            else:  # file URLs name the HTTPS port, so generate once the port is known
                out = generate_tree(workdir, args, https_url)
                root, manifest = os.path.join(out, "tree"), os.path.join(out, "manifest.json")
            write_maps(workdir, root)
        with open(os.path.join(workdir, "nginx.conf"), "w") as stream:
            stream.write(nginx_conf(workdir, ports, root, cert, key, extra_conf, mirror))
        try:
            pid = start_nginx(nginx, workdir)
            break
        except BindConflict:
            if attempt == BIND_ATTEMPTS:
                raise
    wait_accepting([https_port, http_port])
    return {"pid": pid, "https_port": https_port, "http_port": http_port,
            "https_url": https_url, "http_url": http_url, "ca_file": ca,
            "tree": root, "manifest": manifest, "mode": "mirror" if mirror else "upstream",
            "workdir": workdir, "access_log": os.path.join(workdir, "access.log"),
            "error_log": os.path.join(workdir, "error.log")}


def stop(args: argparse.Namespace) -> None:
    """Implements `serve.py stop`: SIGTERM, bounded wait, then SIGKILL, by PID only."""
    workdir = os.path.abspath(args.workdir)
    with open(os.path.join(workdir, "server.json")) as stream:
        pid = int(json.load(stream)["pid"])
    if not process_alive(pid) or not is_our_nginx(pid, workdir):
        return  # already gone; never signal a PID that was reused by someone else
    os.kill(pid, signal.SIGTERM)
    for sig in (None, signal.SIGKILL):
        if sig:
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return
            time.sleep(0.02)
    raise StartError(f"nginx {pid} did not exit after SIGKILL")


def process_start_time(pid: int) -> Optional[str]:
    """The start time of `pid` (field 22 of /proc/PID/stat), or None when it is gone or a zombie:
    with it, a PID the kernel reused is not taken for the process it was."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def spawn_watch(workdir: str, owner_pid: int) -> None:
    """Starts `serve.py watch` in its own session, detached from our stdout (a caller reads it to
    EOF), so the nginx of `workdir` is stopped when `owner_pid` dies without stopping it."""
    subprocess.Popen([sys.executable, os.path.abspath(__file__), "watch", "--workdir", workdir,
                      "--owner-pid", str(owner_pid)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)


def watch(args: argparse.Namespace) -> None:
    """Implements `serve.py watch`: polls until the nginx of the workdir is gone (then exits) or
    the owner is gone (then stops that nginx), for at most WATCH_MAX_S."""
    workdir = os.path.abspath(args.workdir)
    owner_started = process_start_time(args.owner_pid)
    with open(os.path.join(workdir, "server.json")) as stream:
        pid = int(json.load(stream)["pid"])
    deadline = time.monotonic() + WATCH_MAX_S
    while time.monotonic() < deadline:
        if not process_alive(pid) or not is_our_nginx(pid, workdir):
            return
        if owner_started is None or process_start_time(args.owner_pid) != owner_started:
            stop(args)
            return
        time.sleep(WATCH_INTERVAL_S)
    stop(args)


def reload(args: argparse.Namespace) -> None:
    """Implements `serve.py reload`: after a test changed the served tree, rewrites the serial
    and redirect maps from its root index and has nginx re-read them (SIGHUP), then waits until
    the root answers with the new serial (bounded). With --tree, nginx serves that tree from
    then on, on the same ports (a test moving to the next generation of the upstream)."""
    workdir = os.path.abspath(args.workdir)
    with open(os.path.join(workdir, "server.json")) as stream:
        server = json.load(stream)
    if server["mode"] != "upstream":
        raise StartError("reload applies to an upstream, not a mirror")
    if args.tree:  # serve another tree (e.g. the next generation) on the same ports
        server["tree"], server["manifest"] = locate_tree(args.tree)
        extra_conf = os.path.join(workdir, "extra.conf")
        with open(os.path.join(workdir, "nginx.conf"), "w") as stream:
            stream.write(nginx_conf(
                workdir, {"https": server["https_port"], "http": server["http_port"]},
                server["tree"], os.path.join(workdir, "server.pem"),
                os.path.join(workdir, "server.key"),
                extra_conf if os.path.exists(extra_conf) else None, False))
        with open(os.path.join(workdir, "server.json"), "w") as stream:
            stream.write(json.dumps(server) + "\n")
    write_maps(workdir, server["tree"])
    with open(os.path.join(server["tree"], "simple", "index.v1_json"), "rb") as stream:
        expected = str(json.load(stream)["meta"]["_last-serial"])
    os.kill(int(server["pid"]), signal.SIGHUP)
    request = urllib.request.Request(server["http_url"] + "/simple/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.headers.get("X-PyPI-Last-Serial") == expected:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise StartError(f"nginx did not serve serial {expected} within {STOP_TIMEOUT_S} s of reload")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="start nginx and print its description")
    start_parser.add_argument("--workdir", required=True, help="fresh directory for everything")
    source = start_parser.add_mutually_exclusive_group()
    source.add_argument("--tree", help="serve an existing generate.py output (or its tree/)")
    source.add_argument("--mirror-web", help="serve a cistern mirror's web/ with the shipped site")
    start_parser.add_argument("--profile", default="small", help="generator profile")
    start_parser.add_argument("--seed", type=int, default=1, help="generator seed")
    start_parser.add_argument("--projects", type=int, default=0, help="generator project count")
    start_parser.add_argument("--total-mb", type=int, default=0,
                              help="generator size in MiB (large profile)")
    start_parser.add_argument("--faults", action="store_true", help="generate fault projects")
    start_parser.add_argument("--extra-conf", help="nginx directives included in both servers")
    start_parser.add_argument("--owner-pid", type=int, default=0,
                              help="stop nginx when this process dies (a test that aborts "
                                   "never runs its own stop)")
    stop_parser = commands.add_parser("stop", help="stop the nginx of a workdir")
    stop_parser.add_argument("--workdir", required=True)
    watch_parser = commands.add_parser(
        "watch", help="stop the nginx of a workdir once --owner-pid is gone (start spawns it)")
    watch_parser.add_argument("--workdir", required=True)
    watch_parser.add_argument("--owner-pid", type=int, required=True)
    reload_parser = commands.add_parser(
        "reload", help="after changing the served tree: refresh serial headers and redirects")
    reload_parser.add_argument("--workdir", required=True)
    reload_parser.add_argument("--tree", help="serve this generate.py output (or its tree/) "
                                              "from now on, e.g. the next generation")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        if args.command == "stop":
            stop(args)
            return 0
        if args.command == "reload":
            reload(args)
            return 0
        if args.command == "watch":
            watch(args)
            return 0
        description = start(args)
    except (StartError, OSError, subprocess.SubprocessError) as error:
        print(f"serve.py {args.command}: {error}", file=sys.stderr)
        return 1
    line = json.dumps(description)
    with open(os.path.join(description["workdir"], "server.json"), "w") as stream:  # type: ignore[arg-type]
        stream.write(line + "\n")
    if args.owner_pid:
        spawn_watch(description["workdir"], args.owner_pid)  # type: ignore[arg-type]
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

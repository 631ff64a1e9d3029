#!/usr/bin/env python3
"""Checks generate.py output, and the changes between consecutive generations.

    check_evolve.py GEN0 [GEN1 ...] [--serve]

Per generation: the root list and every page agree (serials, names, statuses), every file
a page links exists with the listed sha256, size and .metadata hash, no file is unlisted,
and every page re-renders byte-identically from manifest.json (so the manifest holds all
the state evolution needs). Per pair GENi -> GENi+1: changes.json lists exactly the paths
that were added, removed and modified (found by walking both trees), unchanged files are
hard links, serials run on from the previous maximum, the changed projects are exactly
those with events, deleted projects are gone, and tests' special projects are untouched.
--serve starts nginx with serve.py on the last but one generation, switches it to the last
(`serve.py reload --tree`) and fetches through it.
Only the Python standard library is used. Exits 1 on the first failed check.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from urllib.parse import unquote, urljoin

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evolve  # noqa: E402  pylint: disable=wrong-import-position
import generate as g  # noqa: E402  pylint: disable=wrong-import-position

ANCHOR = re.compile(r'<a href="([^"#]+)#sha256=([0-9a-f]{64})"([^>]*)>([^<]*)</a>')


def fail(message: str) -> None:
    print(f"check_evolve.py: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def read(path: str) -> bytes:
    with open(path, "rb") as stream:
        return stream.read()


def sha256_of(path: str) -> str:
    return hashlib.sha256(read(path)).hexdigest()


def tree_path(tree: str, page_rel: str, url: str, files_base: str | None) -> str:
    """Tree-relative path of a file URL found on the page at `page_rel`."""
    if files_base and url.startswith(files_base):
        rel = url[len(files_base.rstrip("/")) + 1:]
    else:
        rel = urljoin("/" + page_rel, url).lstrip("/")
    return unquote(rel)


def check_generation(out: str) -> dict:
    """Checks one generation; returns facts for the pair checks."""
    tree = os.path.join(out, "tree")
    manifest = json.loads(read(os.path.join(out, "manifest.json")))
    files_base = manifest.get("files_base")
    root = json.loads(read(os.path.join(tree, "simple", "index.v1_json")))
    root_html = read(os.path.join(tree, "simple", "index.html")).decode()
    check(read(os.path.join(tree, "simple", "index.v1_html")) == root_html.encode(),
          f"{out}: root index.v1_html differs from index.html")
    serial = root["meta"]["_last-serial"]
    check(serial == manifest["serial"], f"{out}: root serial {serial} != manifest serial")
    names = {g.normalize(p["name"]): p for p in root["projects"]}
    order = [g.normalize(p["name"]) for p in root["projects"]]
    check(len(names) == len(order), f"{out}: duplicate normalized names in the root")
    check(order == sorted(order), f"{out}: root not sorted by normalized name")
    links = re.findall(r'<a href="/simple/([^/]+)/">', root_html)
    check(links == order, f"{out}: root HTML and JSON list different projects")
    check(all(p["_last-serial"] <= serial for p in root["projects"]),
          f"{out}: a project serial exceeds the root serial")
    faults = manifest.get("faults", {})
    quarantined = manifest.get("quarantined", {})
    entries = {e["normalized"]: e for e in manifest["projects"]}
    root_only = bool(manifest.get("root_only"))
    if root_only:
        check(set(entries) <= set(names), f"{out}: sample projects missing from the root")
    else:
        check(set(entries) | set(faults) == set(names),
              f"{out}: manifest projects and faults differ from the root list")
    check(not set(quarantined) & set(names), f"{out}: a quarantined project is in the root")
    renderer = g.PageRenderer(files_base)
    referenced: set[str] = set()
    all_serials = [p["_last-serial"] for p in root["projects"]]
    for name, entry in list(entries.items()) + list(quarantined.items()):
        project = evolve.project_from_manifest(entry)
        expected_serial = names[name]["_last-serial"] if name in names else entry["serial"]
        check(project.serial == expected_serial, f"{out}: {name}: manifest serial differs")
        all_serials.append(project.serial)
        if name in names:
            check(names[name]["name"] == entry["name"], f"{out}: {name}: display name differs")
        # The pages re-render byte-identically from the manifest.
        pages = evolve.render_pages(renderer, project)
        for rel in evolve.page_paths(name):
            path = os.path.join(tree, rel)
            if rel in pages:
                check(os.path.exists(path), f"{out}: {rel} missing")
                check(read(path) == pages[rel], f"{out}: {rel} does not re-render from the "
                                                f"manifest")
            else:
                check(not os.path.exists(path), f"{out}: {rel} should not exist")
        page_rel = f"simple/{name}/index.v1_json"
        page = json.loads(pages[page_rel])
        html_page = pages[f"simple/{name}/index.html"].decode()
        check(page["meta"]["_last-serial"] == project.serial, f"{out}: {name}: page serial")
        check(html_page.rstrip().endswith(f"<!--SERIAL {project.serial}-->"),
              f"{out}: {name}: HTML serial comment")
        check(page["name"] == name, f"{out}: {name}: page name is not normalized")
        check(page["project-status"]["status"] == entry["status"], f"{out}: {name}: status")
        if entry["status"] == "quarantined":
            check(page["files"] == [] and page["versions"] == [],
                  f"{out}: {name}: a quarantined page lists files")
        anchors = {unquote(m.group(4)): m for m in ANCHOR.finditer(html_page)}
        check(len(anchors) == len(page["files"]), f"{out}: {name}: HTML and JSON file counts")
        listed = {f["filename"]: f for f in entry["files"]}
        check(set(listed) == {f["filename"] for f in page["files"]},
              f"{out}: {name}: manifest and page files differ")
        for file in page["files"]:
            rel = tree_path(tree, page_rel, file["url"], files_base)
            path = os.path.join(tree, rel)
            check(os.path.isfile(path), f"{out}: {name}: {rel} missing")
            data = read(path)
            check(hashlib.sha256(data).hexdigest() == file["hashes"]["sha256"],
                  f"{out}: {name}: {rel} sha256 differs")
            check(len(data) == file["size"], f"{out}: {name}: {rel} size differs")
            check(rel.endswith("/" + file["filename"]), f"{out}: {name}: {rel} name")
            blake = hashlib.blake2b(data, digest_size=32).hexdigest()
            check(rel.startswith(f"packages/{blake[:2]}/{blake[2:4]}/{blake[4:]}/"),
                  f"{out}: {name}: {rel} is not at its BLAKE2b path")
            check(listed[file["filename"]]["version"] in page["versions"],
                  f"{out}: {name}: {file['filename']}'s version is not in versions")
            referenced.add(rel)
            anchor = anchors[file["filename"]]
            check(anchor.group(2) == file["hashes"]["sha256"], f"{out}: {name}: HTML hash")
            yanked = file["yanked"]
            attrs = anchor.group(3)
            if yanked is False:
                check("data-yanked" not in attrs, f"{out}: {name}: HTML yanked marker")
            else:
                reason = "" if yanked is True else yanked
                check(f'data-yanked="{reason}"' in attrs, f"{out}: {name}: HTML yank reason")
            if file["core-metadata"]:
                check(sha256_of(path + ".metadata") == file["core-metadata"]["sha256"],
                      f"{out}: {name}: {rel}.metadata sha256 differs")
                referenced.add(rel + ".metadata")
        legacy = os.path.join(tree, "pypi", name, "json")
        if os.path.exists(legacy):
            body = json.loads(read(legacy))
            check(body["last_serial"] == project.serial, f"{out}: {name}: legacy serial")
            check(body["info"]["name"] == entry["name"], f"{out}: {name}: legacy name")
    check(max(all_serials) <= serial, f"{out}: a project serial exceeds meta._last-serial")
    on_disk = {rel for rel in evolve.walk(tree) if rel.startswith("packages/")}
    fault_files = {rel for rel in on_disk
                   if any(rel.rsplit("/", 1)[-1].startswith(g.dist_name(n) + "-")
                          for n in faults)}
    check(on_disk - fault_files == referenced,
          f"{out}: files on disk and files listed differ: "
          f"{sorted((on_disk - fault_files) ^ referenced)[:5]}")
    return {"tree": tree, "manifest": manifest, "root": names, "quarantined": quarantined}


def check_pair(a_dir: str, a: dict, b_dir: str, b: dict) -> dict:
    """Checks B = evolve(A) against B/changes.json."""
    changes = json.loads(read(os.path.join(b_dir, "changes.json")))
    a_paths, b_paths = evolve.walk(a["tree"]), evolve.walk(b["tree"])
    modified, linked = set(), 0
    for rel in a_paths & b_paths:
        sa = os.stat(os.path.join(a["tree"], rel))
        sb = os.stat(os.path.join(b["tree"], rel))
        if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
            check(sb.st_nlink > 1, f"{rel}: same inode but nlink 1?")
            linked += 1
        elif read(os.path.join(a["tree"], rel)) != read(os.path.join(b["tree"], rel)):
            modified.add(rel)
        else:
            fail(f"{b_dir}: {rel} is unchanged but not hard-linked")
    check(sorted(b_paths - a_paths) == changes["added_paths"], f"{b_dir}: added_paths differ: "
          f"{sorted(set(changes['added_paths']) ^ (b_paths - a_paths))[:5]}")
    check(sorted(a_paths - b_paths) == changes["removed_paths"],
          f"{b_dir}: removed_paths differ: "
          f"{sorted(set(changes['removed_paths']) ^ (a_paths - b_paths))[:5]}")
    check(sorted(modified) == changes["modified_paths"], f"{b_dir}: modified_paths differ: "
          f"{sorted(set(changes['modified_paths']) ^ modified)[:5]}")
    new_files = [rel for rel in changes["added_paths"] if rel.startswith("packages/")]
    a_inodes = {os.stat(os.path.join(a["tree"], rel)).st_ino for rel in a_paths}
    check(not any(os.stat(os.path.join(b["tree"], rel)).st_ino in a_inodes
                  for rel in new_files), f"{b_dir}: a new file shares an inode with {a_dir}")
    # Serials.
    events = changes["events"]
    check(changes["from_serial"] == a["manifest"]["serial"], f"{b_dir}: from_serial")
    check(changes["to_serial"] == b["manifest"]["serial"], f"{b_dir}: to_serial")
    check([e["serial"] for e in events]
          == list(range(changes["from_serial"] + 1, changes["to_serial"] + 1)),
          f"{b_dir}: event serials do not run on from the previous maximum")
    last: dict[str, int] = {}
    for event in events:
        last[event["project"]] = event["serial"]
    # Changed pages are exactly the projects with events (minus deletions).
    page_changed = {m.group(1) for rel in changes["added_paths"] + changes["modified_paths"]
                    for m in [re.match(r"^simple/([^/]+)/index\.v1_json$", rel)] if m}
    deleted = set(changes["deleted_projects"])
    check(page_changed == set(changes["changed_pages"]), f"{b_dir}: changed_pages")
    check(page_changed == set(last) - deleted, f"{b_dir}: changed pages != projects with "
                                              f"events: {sorted(page_changed ^ (set(last) - deleted))}")
    for name, serial in last.items():
        if name in deleted:
            continue
        now = b["root"].get(name) or {"_last-serial": b["quarantined"][name]["serial"]}
        check(now["_last-serial"] == serial, f"{b_dir}: {name}: serial is not its last event")
        check(changes["project_serials"][name] == serial, f"{b_dir}: project_serials[{name}]")
    for name, project in b["root"].items():
        if name not in last:
            check(a["root"].get(name) == project, f"{b_dir}: {name} changed without an event")
    for name in deleted:
        check(name in a["root"] and name not in b["root"], f"{b_dir}: {name} not deleted")
        check(not os.path.exists(os.path.join(b["tree"], "simple", name)),
              f"{b_dir}: simple/{name}/ still exists")
        check(not os.path.exists(os.path.join(b["tree"], "pypi", name)),
              f"{b_dir}: pypi/{name}/ still exists")
    new = set(b["root"]) - set(a["root"]) - set(a["quarantined"])
    check(new == set(changes["new_projects"]) - deleted, f"{b_dir}: new_projects")
    for name in changes["quarantined_projects"]:
        check(name in a["root"] and name not in b["root"] and name in b["quarantined"],
              f"{b_dir}: {name}: quarantine")
    renamed = {name: {"from": a["root"][name]["name"], "to": b["root"][name]["name"]}
               for name in set(a["root"]) & set(b["root"])
               if a["root"][name]["name"] != b["root"][name]["name"]}
    check(renamed == {n: r for n, r in changes["renamed_projects"].items() if n in b["root"]},
          f"{b_dir}: renamed_projects")
    touched_specials = set(last) & evolve.SPECIAL_NAMES
    check(not touched_specials, f"{b_dir}: special projects changed: {touched_specials}")
    kinds = {e["kind"] + ("/reason" if e.get("reason") else "") for e in events}
    if len(events) >= len(evolve.REQUIRED_KINDS) and not b["manifest"].get("root_only") \
            and any(e["kind"] != "role" for e in events):
        wanted = {"new_project", "new_release", "late_wheel", "yank", "yank/reason", "unyank",
                  "remove_file", "remove_release", "delete_project", "rename", "status",
                  "quarantine"}
        check(wanted <= kinds, f"{b_dir}: missing kinds {sorted(wanted - kinds)}")
    return {"linked": linked, "events": len(events), "kinds": sorted(kinds)}


def fetch(url: str, accept: str = "application/vnd.pypi.simple.v1+json"):
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), b""


def check_serving(prev: str, out: str) -> None:
    """Serves PREV with serve.py, switches to OUT with `serve.py reload --tree`, and reads
    the root, the changed pages, their files and the deleted projects (http listener)."""
    workdir = tempfile.mkdtemp(prefix="check-evolve-serve-")
    serve = [sys.executable, os.path.join(HERE, "serve.py")]
    result = subprocess.run(serve + ["start", "--workdir", workdir, "--tree", prev],
                            capture_output=True, text=True, timeout=120)
    check(result.returncode == 0, f"serve.py start failed: {result.stderr}")
    server = json.loads(result.stdout)
    try:
        base = server["http_url"]
        changes = json.loads(read(os.path.join(out, "changes.json")))
        status, headers, _ = fetch(base + "/simple/")
        check(status == 200 and headers["X-PyPI-Last-Serial"] == str(changes["from_serial"]),
              "served root serial before reload")
        result = subprocess.run(serve + ["reload", "--workdir", workdir, "--tree", out],
                                capture_output=True, text=True, timeout=120)
        check(result.returncode == 0, f"serve.py reload failed: {result.stderr}")
        status, headers, body = fetch(base + "/simple/")
        check(status == 200 and headers["X-PyPI-Last-Serial"] == str(changes["to_serial"]),
              "served root serial")
        check(json.loads(body)["meta"]["_last-serial"] == changes["to_serial"], "root body")
        for name in changes["changed_pages"]:
            serial = changes["project_serials"][name]
            status, headers, body = fetch(f"{base}/simple/{name}/")
            check(status == 200 and headers.get("X-PyPI-Last-Serial") == str(serial),
                  f"served page {name}: {status} {headers.get('X-PyPI-Last-Serial')}")
            page = json.loads(body)
            for file in page["files"][:2]:
                status, _, data = fetch(urljoin(f"{base}/simple/{name}/", file["url"]), "*/*")
                check(status == 200 and hashlib.sha256(data).hexdigest()
                      == file["hashes"]["sha256"], f"served file {file['filename']}")
        for name in changes["deleted_projects"]:
            check(fetch(f"{base}/simple/{name}/")[0] == 404, f"deleted {name} is served")
            check(fetch(f"{base}/pypi/{name}/json")[0] == 404, f"deleted {name} JSON served")
        for name in changes["quarantined_projects"]:
            check(fetch(f"{base}/pypi/{name}/json")[0] == 404, f"quarantined {name} JSON")
        for name, rename in changes["renamed_projects"].items():
            status, headers, _ = fetch(f"{base}/simple/{rename['to']}/")
            check(status in (200, 301), f"renamed {name}: {status}")
        for name, entry in json.loads(read(os.path.join(out, "manifest.json"))).get(
                "quarantined", {}).items():
            status, headers, body = fetch(f"{base}/simple/{name}/")
            check(status == 200 and headers.get("X-PyPI-Last-Serial") == str(entry["serial"])
                  and json.loads(body)["project-status"]["status"] == "quarantined",
                  f"quarantined page {name}")
        print(f"check_evolve.py: served {prev}, reloaded to {out} on {base}: root, "
              f"{len(changes['changed_pages'])} changed pages, files, 404s ok")
    finally:
        subprocess.run(serve + ["stop", "--workdir", workdir], check=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    serve = "--serve" in argv
    dirs = [a for a in argv if a != "--serve"]
    if not dirs:
        print(__doc__, file=sys.stderr)
        return 2
    facts = [check_generation(d) for d in dirs]
    print(f"check_evolve.py: {dirs[0]}: ok ({len(facts[0]['root'])} projects)")
    for i in range(1, len(dirs)):
        result = check_pair(dirs[i - 1], facts[i - 1], dirs[i], facts[i])
        print(f"check_evolve.py: {dirs[i - 1]} -> {dirs[i]}: ok ({result['events']} events, "
              f"{result['linked']} shared files hard-linked; kinds {', '.join(result['kinds'])})")
    if serve and len(dirs) >= 2:
        check_serving(dirs[-2], dirs[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Deterministic fake-PyPI tree generator for cistern's tests and benchmarks.

Writes a static tree that, served by nginx (see serve.py), looks to a sync engine like
pypi.org plus files.pythonhosted.org:

    OUT/tree/simple/index.v1_json | index.html | index.v1_html       root list (PEP 691/503)
    OUT/tree/simple/<normalized>/index.v1_json | index.html | ...     project pages
    OUT/tree/packages/<b2>/<b2>/<b60>/<filename>[.metadata]           files, PyPI layout
    OUT/tree/pypi/<normalized>/json                                   legacy JSON API
    OUT/manifest.json                                                 what was generated

The same arguments always give byte-identical output: all randomness comes from a
seeded random.Random, archives carry fixed timestamps, and every listing is sorted.
Only the Python standard library is used. See README.md for the list of cases.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import collections
import concurrent.futures
import dataclasses
import datetime
import gzip
import hashlib
import html
import io
import json
import os
import random
import re
import sys
import tarfile
import zipfile
from typing import Iterator, Optional, Union
from urllib.parse import quote

MIB = 1 << 20
API_VERSION = "1.4"
# First journal id handed out; PyPI's serials are large, so small ones would hide bugs.
FIRST_SERIAL = 24_000_001
# Upload times are derived from serials, never from the clock: 2023-01-01T00:00:00Z + 97 s/event.
UPLOAD_EPOCH = 1_672_531_200
SECONDS_PER_EVENT = 97
ZIP_DATE_TIME = (2023, 1, 1, 0, 0, 0)
TAR_MTIME = UPLOAD_EPOCH
GENERATOR = "cistern-test-upstream 1.0"

Yanked = Union[bool, str]


# --------------------------------------------------------------------------- model


@dataclasses.dataclass
class FileSpec:
    """One distribution file of a release, before it is built."""

    kind: str  # "wheel", "sdist" (.tar.gz), "zip" or "bz2" (legacy sdists)
    tags: str = "py3-none-any"  # wheels only: compressed tag set "py-abi-plat"
    build: Optional[str] = None  # wheels only: build tag
    payload: int = 0  # bytes of random, incompressible data stored in the archive


@dataclasses.dataclass
class ReleaseSpec:
    """One version of a project with its files and release-level attributes."""

    version: str
    files: list[FileSpec]
    requires_python: Optional[str] = None
    requires_dist: list[str] = dataclasses.field(default_factory=list)
    yanked: Yanked = False  # False, True or a non-empty reason (PEP 592)


@dataclasses.dataclass
class ProjectSpec:
    """A project as the index knows it. Releases are listed in ascending version order."""

    name: str  # display name
    releases: list[ReleaseSpec]
    status: str = "active"  # PEP 792 project status
    status_reason: Optional[str] = None
    fault: Optional[str] = None  # set only for --faults projects

    @property
    def normalized(self) -> str:
        return normalize(self.name)


@dataclasses.dataclass
class BuiltFile:
    """A file after it was written, with everything the pages and manifest need."""

    filename: str
    version: str
    path: str  # relative to the tree, "packages/ab/cd/<60 hex>/<filename>"
    size: int
    sha256: str
    md5: str
    blake2b_256: str
    packagetype: str
    python_version: str
    requires_python: Optional[str]
    yanked: Yanked
    upload_time: str  # Simple API form: with 6-digit fraction or whole seconds, "Z"
    metadata_sha256: Optional[str]
    # What the index claims, which differs from the truth only for fault projects.
    listed_sha256: str = ""
    listed_metadata_sha256: Optional[str] = None
    url_path: Optional[str] = None  # overrides the percent-encoded path (traversal faults)


@dataclasses.dataclass
class Profile:
    """Size knobs of a profile."""

    projects: int  # total number of regular projects, specials included
    filler_payload_mb: float  # random payload spread over the filler projects
    big_files: list[int]  # payload sizes of the big-blobs project's wheels
    many_files_releases: int  # releases of many-files (3 files each)


PROFILES = {
    "small": Profile(projects=30, filler_payload_mb=4, big_files=[3 * MIB, 3 * MIB],
                     many_files_releases=70),
    "default": Profile(projects=60, filler_payload_mb=36,
                       big_files=[3 * MIB, 4 * MIB, 5 * MIB, 6 * MIB], many_files_releases=100),
    "large": Profile(projects=2000, filler_payload_mb=0,  # from --total-mb
                     big_files=[16 * MIB] * 4, many_files_releases=200),
}


# --------------------------------------------------------------------------- names


def normalize(name: str) -> str:
    """PEP 503 normalization: lowercase, runs of -_. become one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(name: str) -> str:
    """The name as it appears in wheel and sdist filenames (PEP 427/625 escaping)."""
    return normalize(name).replace("-", "_")


def expand_tags(tags: str) -> list[str]:
    """Expands a compressed tag set such as "py2.py3-none-any" into single tags."""
    py, abi, plat = tags.split("-")
    return [f"{a}-{b}-{c}" for a in py.split(".") for b in abi.split(".")
            for c in plat.split(".")]


def is_prerelease(version: str) -> bool:
    """True for PEP 440 pre- and dev-releases of the versions this generator emits."""
    return re.search(r"(a|b|rc|dev)\d*", version.split("+")[0]) is not None


# --------------------------------------------------------------------------- content


class RandomPool:
    """Cheap incompressible bytes: slices of one seeded random block.

    random.randbytes runs at ~100 MB/s, so large profiles take slices of a pre-made pool at
    random offsets instead; each file still starts with 32 fresh bytes so no two are equal.
    """

    def __init__(self, rng: random.Random, size: int):
        self._rng = rng
        self._pool = rng.randbytes(size) if size else b""

    def take(self, size: int) -> bytes:
        head = self._rng.randbytes(min(size, 32))
        parts = [head]
        left = size - len(head)
        while left > 0:
            n = min(left, len(self._pool))
            start = self._rng.randrange(0, len(self._pool) - n + 1)
            parts.append(self._pool[start:start + n])
            left -= n
        return b"".join(parts)


def core_metadata(project: ProjectSpec, release: ReleaseSpec) -> bytes:
    """The METADATA / PKG-INFO text of a release (core metadata 2.1)."""
    lines = ["Metadata-Version: 2.1", f"Name: {project.name}", f"Version: {release.version}",
             f"Summary: {project.name} {release.version}, generated for cistern's tests"]
    if release.requires_python:
        lines.append(f"Requires-Python: {release.requires_python}")
    lines += [f"Requires-Dist: {req}" for req in release.requires_dist]
    lines.append("Description-Content-Type: text/plain")
    body = f"{project.name} is a generated project. It contains no useful code.\n"
    return ("\n".join(lines) + "\n\n" + body).encode()


def module_source(project: ProjectSpec, release: ReleaseSpec) -> bytes:
    return (f'"""{project.name} {release.version}: generated by {GENERATOR}."""\n\n'
            f'__version__ = "{release.version}"\n').encode()


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def zip_entry(archive: zipfile.ZipFile, name: str, data: bytes, stored: bool = False) -> None:
    """Adds `name` with a fixed timestamp and mode so the archive bytes are reproducible."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_wheel(project: ProjectSpec, release: ReleaseSpec, spec: FileSpec,
                payload: bytes) -> tuple[bytes, bytes]:
    """Returns (wheel bytes, METADATA bytes) of a valid, installable wheel."""
    module = dist_name(project.name)
    info_dir = f"{module}-{release.version}.dist-info"
    metadata = core_metadata(project, release)
    wheel_lines = ["Wheel-Version: 1.0", f"Generator: {GENERATOR}",
                   f"Root-Is-Purelib: {'true' if spec.tags.endswith('-none-any') else 'false'}"]
    wheel_lines += [f"Tag: {tag}" for tag in expand_tags(spec.tags)]
    if spec.build:
        wheel_lines.append(f"Build: {spec.build}")
    entries = [(f"{module}/__init__.py", module_source(project, release), False)]
    if payload:
        entries.append((f"{module}/_payload.bin", payload, True))
    entries += [(f"{info_dir}/METADATA", metadata, False),
                (f"{info_dir}/WHEEL", ("\n".join(wheel_lines) + "\n").encode(), False)]
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data, _ in entries)
    record += f"{info_dir}/RECORD,,\n"
    entries.append((f"{info_dir}/RECORD", record.encode(), False))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, stored in entries:
            zip_entry(archive, name, data, stored)
    return buffer.getvalue(), metadata


def sdist_members(project: ProjectSpec, release: ReleaseSpec, root: str,
                  payload: bytes) -> list[tuple[str, bytes]]:
    """Files of a minimal PEP 517 sdist rooted at `root/`."""
    module = dist_name(project.name)
    deps = ", ".join(json.dumps(req) for req in release.requires_dist)
    pyproject = ["[build-system]", 'requires = ["setuptools>=61"]',
                 'build-backend = "setuptools.build_meta"', "", "[project]",
                 f'name = "{project.name}"', f'version = "{release.version}"',
                 f"dependencies = [{deps}]"]
    if release.requires_python:
        pyproject.append(f'requires-python = "{release.requires_python}"')
    members = [(f"{root}/PKG-INFO", core_metadata(project, release)),
               (f"{root}/pyproject.toml", ("\n".join(pyproject) + "\n").encode()),
               (f"{root}/{module}/__init__.py", module_source(project, release))]
    if payload:
        members.append((f"{root}/{module}/_payload.bin", payload))
    return members


def build_tar(members: list[tuple[str, bytes]], compression: str) -> bytes:
    """A reproducible .tar.gz or .tar.bz2 (fixed mtimes and owners, no gzip name/time)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), TAR_MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    if compression == "bz2":
        return bz2.compress(raw.getvalue(), 9)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as stream:
        stream.write(raw.getvalue())
    return out.getvalue()


def build_zip_sdist(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            zip_entry(archive, name, data, stored=name.endswith(".bin"))
    return buffer.getvalue()


def file_name(project: ProjectSpec, release: ReleaseSpec, spec: FileSpec) -> str:
    """The distribution filename, following PEP 427/625; legacy kinds keep the display name."""
    if spec.kind == "wheel":
        build = f"-{spec.build}" if spec.build else ""
        return f"{dist_name(project.name)}-{release.version}{build}-{spec.tags}.whl"
    if spec.kind == "sdist":
        return f"{dist_name(project.name)}-{release.version}.tar.gz"
    suffix = {"zip": ".zip", "bz2": ".tar.bz2"}[spec.kind]
    return f"{project.name}-{release.version}{suffix}"


def build_file(project: ProjectSpec, release: ReleaseSpec, spec: FileSpec,
               payload: bytes) -> tuple[str, bytes, Optional[bytes]]:
    """Returns (filename, content, METADATA or None) for one file."""
    filename = file_name(project, release, spec)
    if spec.kind == "wheel":
        content, metadata = build_wheel(project, release, spec, payload)
        return filename, content, metadata
    root = filename.removesuffix(".tar.gz").removesuffix(".tar.bz2").removesuffix(".zip")
    members = sdist_members(project, release, root, payload)
    if spec.kind == "zip":
        return filename, build_zip_sdist(members), None
    return filename, build_tar(members, "bz2" if spec.kind == "bz2" else "gz"), None


# --------------------------------------------------------------------------- the catalogue


def wheel(tags: str = "py3-none-any", payload: int = 0, build: Optional[str] = None) -> FileSpec:
    return FileSpec("wheel", tags=tags, payload=payload, build=build)


def sdist(payload: int = 0) -> FileSpec:
    return FileSpec("sdist", payload=payload)


PLATFORM_TAGS = [
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64",
    "cp312-cp312-musllinux_1_1_x86_64",
    "cp312-cp312-macosx_10_9_universal2",
    "cp312-cp312-win_amd64",
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp311-abi3-macosx_11_0_arm64",
]


def special_projects(profile: Profile) -> list[ProjectSpec]:
    """The hand-written ugly cases every profile contains."""
    return [
        ProjectSpec("Foo_Bar", [
            ReleaseSpec("0.9", [sdist()]),
            ReleaseSpec("1.0", [wheel(), sdist()], requires_python=">=3.8,<4"),
            ReleaseSpec("1.0.post1", [wheel()], requires_python=">=3.8,<4"),
        ]),
        ProjectSpec("zope.shim", [
            ReleaseSpec("4.0", [wheel("py2.py3-none-any"), sdist()]),
            ReleaseSpec("5.0", [wheel(), sdist()], requires_python=">=3.7"),
        ]),
        ProjectSpec("UPPER-Case", [ReleaseSpec("1.0", [wheel()])]),
        ProjectSpec("a__b..c", [ReleaseSpec("0.1", [wheel(), sdist()])]),
        # Dependency chain: pip must resolve chain-a -> chain-b -> chain-c through the mirror.
        ProjectSpec("Chain-A", [ReleaseSpec("1.0", [wheel(), sdist()],
                                            requires_dist=["Chain.B>=1.0", "chain_c"])]),
        ProjectSpec("Chain.B", [ReleaseSpec("0.9", [wheel()]),
                                ReleaseSpec("1.0", [wheel()], requires_dist=["chain_c<3"])]),
        ProjectSpec("chain_c", [ReleaseSpec("1.0", [wheel()]), ReleaseSpec("2.0", [wheel()])]),
        ProjectSpec("Yanky", [
            ReleaseSpec("1.0", [wheel(), sdist()]),
            ReleaseSpec("1.1", [wheel(), sdist()], yanked="broken build: module missing"),
            ReleaseSpec("1.2", [wheel()], yanked=True),
        ]),
        ProjectSpec("prerel", [
            ReleaseSpec("1.0", [wheel()]),
            ReleaseSpec("1.0.post1", [wheel()]),
            ReleaseSpec("1.1.dev3", [wheel()]),
            ReleaseSpec("2.0rc1", [wheel(), sdist()]),
            ReleaseSpec("3.0a1", [wheel()]),
        ]),
        ProjectSpec("empty-project", []),
        ProjectSpec("many-files", [
            ReleaseSpec(f"1.{i}", [wheel(), wheel(PLATFORM_TAGS[i % len(PLATFORM_TAGS)]), sdist()])
            for i in range(profile.many_files_releases)
        ]),
        ProjectSpec("Big_Blobs", [ReleaseSpec(f"{i + 1}.0", [wheel(payload=size)])
                                  for i, size in enumerate(profile.big_files)]),
        ProjectSpec("plat-wheels", [ReleaseSpec(
            "1.0", [wheel(tag, payload=2048) for tag in PLATFORM_TAGS]
            + [wheel("py2.py3-none-any"), wheel("py3-none-any", build="1"), sdist()],
            requires_python=">=3.8")]),
        ProjectSpec("req-python", [
            ReleaseSpec("1.0", [wheel()], requires_python=">=3.8,<4"),
            ReleaseSpec("1.1", [wheel()], requires_python=">=3.7,!=3.8.*"),
            ReleaseSpec("1.2", [wheel()], requires_python="<3.99,>=3.9"),
            ReleaseSpec("2.0", [wheel()], requires_python=">=3.99"),
        ]),
        ProjectSpec("Legacy.Sdists", [
            ReleaseSpec("0.8", [FileSpec("bz2")]),
            ReleaseSpec("0.9", [FileSpec("zip")]),
            ReleaseSpec("1.0", [wheel(), sdist()]),
        ]),
        ProjectSpec("local-version", [ReleaseSpec("1.0", [wheel()]),
                                      ReleaseSpec("1.0+cistern.1", [wheel()])]),
        ProjectSpec("archived-project", [ReleaseSpec("1.0", [wheel()])], status="archived",
                    status_reason="moved to foo-bar"),
        ProjectSpec("Deprecated_Project", [ReleaseSpec("1.0", [wheel(), sdist()])],
                    status="deprecated"),
    ]


WORDS_A = ["amber", "brisk", "cobalt", "dusty", "ember", "fable", "gentle", "hollow", "ivory",
           "jolly", "kinetic", "lunar", "mellow", "nimble", "opal", "plucky", "quiet", "rustic",
           "solar", "tidy", "umber", "vivid", "woolly", "yonder", "zesty"]
WORDS_B = ["anchor", "badger", "canal", "delta", "engine", "falcon", "grove", "harbor", "island",
           "jetty", "kettle", "lantern", "meadow", "needle", "orchard", "pylon", "quarry",
           "river", "sluice", "tunnel", "valve", "weir", "yard", "zephyr"]
REQUIRES_PYTHON = [None, None, ">=3.8", ">=3.8,<4", ">=3.7,!=3.8.*", "<4,>=3.9"]


def filler_name(rng: random.Random, index: int) -> str:
    """A unique display name in one of the styles found on PyPI."""
    a, b = rng.choice(WORDS_A), rng.choice(WORDS_B)
    style = rng.randrange(5)
    if style == 0:
        return f"{a}-{b}-{index}"
    if style == 1:
        return f"{a.capitalize()}{b.capitalize()}{index}"
    if style == 2:
        return f"{a}_{b}_{index}"
    if style == 3:
        return f"{a}.{b}{index}"
    return f"{a.upper()}-{b}{index}"


def filler_projects(rng: random.Random, count: int, payload_bytes: int) -> list[ProjectSpec]:
    """`count` ordinary projects whose files share `payload_bytes` of random data."""
    projects = []
    for index in range(count):
        releases = []
        for minor in range(rng.randint(1, 4)):
            files = [wheel()]
            if rng.random() < 0.6:
                files.append(sdist())
            if rng.random() < 0.2:
                files.append(wheel(rng.choice(PLATFORM_TAGS)))
            releases.append(ReleaseSpec(f"0.{minor}.{rng.randrange(3)}", files,
                                        requires_python=rng.choice(REQUIRES_PYTHON)))
        projects.append(ProjectSpec(filler_name(rng, index), releases))
    # Spread the payload with a heavy-tailed weight so sizes vary like on PyPI.
    # Only wheels carry payload: it is stored uncompressed there, while an sdist would spend
    # its time gzipping random bytes.
    specs = [spec for project in projects for release in project.releases
             for spec in release.files if spec.kind == "wheel"]
    if specs and payload_bytes > 0:
        weights = [rng.lognormvariate(0.0, 1.2) for _ in specs]
        total = sum(weights)
        for spec, weight in zip(specs, weights):
            spec.payload = int(payload_bytes * weight / total)
    return projects


def fault_projects() -> list[ProjectSpec]:
    """Projects a correct mirror must reject or defer (only with --faults)."""
    return [
        ProjectSpec("fault-missing-file", [ReleaseSpec("1.0", [wheel(), sdist()])],
                    fault="missing-file"),
        ProjectSpec("fault-bad-hash", [ReleaseSpec("1.0", [wheel(), sdist()])], fault="bad-hash"),
        ProjectSpec("fault-bad-page", [ReleaseSpec("1.0", [wheel()])], fault="bad-page"),
        ProjectSpec("fault-traversal", [ReleaseSpec("1.0", [wheel()])], fault="traversal"),
        ProjectSpec("fault-bad-metadata", [ReleaseSpec("1.0", [wheel()])],
                    fault="bad-metadata"),
    ]


FAULT_DESCRIPTIONS = {
    "missing-file": ("the sdist is listed on the page but not on disk (404)",
                     "the file fails; the project is deferred, the serial not advanced"),
    "bad-hash": ("the wheel's listed sha256 does not match its bytes",
                 "the download is rejected and never published"),
    "bad-page": ("index.v1_json is truncated mid-way (invalid JSON); HTML is intact",
                 "the page is rejected; the project is deferred"),
    "traversal": ("two extra files named '../../evil.whl' (URL escapes packages/) and "
                  "'..\\..\\evil2.whl' (URL %5C-encoded); neither exists",
                  "the hostile names are rejected; nothing is written outside the tree"),
    "bad-metadata": ("the wheel's core-metadata sha256 is wrong; the .metadata file is the "
                     "real METADATA", "the .metadata file is rejected"),
}


# --------------------------------------------------------------------------- serials


def assign_serials(rng: random.Random, projects: list[ProjectSpec]) -> dict[str, list[int]]:
    """Plays the projects' histories as interleaved journal events, as PyPI records them.

    Per project: "create", then per release "new release" and one "add file" per file, a
    "yank release" for yanked releases, and a few role events. Returns, per normalized
    name, the serials of its events in that order; a project's serial is the last one.
    """
    events: dict[str, list[str]] = {}
    for project in projects:
        names = ["create"]
        for release in project.releases:
            names.append("new release")
            names += ["add file"] * len(release.files)
            if release.yanked:
                names.append("yank release")
        names += ["add Owner"] * rng.randrange(3)
        events[project.normalized] = names
    pending = sorted(events)
    serials: dict[str, list[int]] = {name: [] for name in events}
    serial = FIRST_SERIAL
    while pending:
        index = rng.randrange(len(pending))
        name = pending[index]
        serials[name].append(serial)
        serial += 1
        if len(serials[name]) == len(events[name]):
            pending[index] = pending[-1]
            pending.pop()
    return serials


def upload_time(rng: random.Random, serial: int) -> str:
    """PyPI's isoformat()+"Z": a 6-digit fraction, or none for a whole second."""
    seconds = UPLOAD_EPOCH + (serial - FIRST_SERIAL) * SECONDS_PER_EVENT
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    if rng.random() < 0.75:
        stamp = stamp.replace(microsecond=rng.randrange(1, 1_000_000))
    return stamp.replace(tzinfo=None).isoformat() + "Z"


# --------------------------------------------------------------------------- pages


def json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class PageRenderer:
    """Renders the Simple API and legacy JSON pages of one project."""

    def __init__(self, files_base: Optional[str]):
        self._files_base = files_base.rstrip("/") if files_base else None

    def file_url(self, built: BuiltFile, from_depth: int = 2) -> str:
        """Absolute URL under --files-base, else relative to a page `from_depth` levels deep."""
        path = built.url_path or "/".join(quote(part, safe="")
                                          for part in built.path.split("/"))
        if self._files_base:
            return f"{self._files_base}/{path}"
        return "../" * from_depth + path

    def simple_json(self, project: ProjectSpec, serial: int, versions: list[str],
                    files: list[BuiltFile]) -> bytes:
        status: dict[str, str] = {"status": project.status}
        if project.status_reason:
            status["reason"] = project.status_reason
        entries = []
        for built in files:
            metadata: Union[bool, dict[str, str]] = (
                {"sha256": built.listed_metadata_sha256} if built.listed_metadata_sha256
                else False)
            entries.append({
                "filename": built.filename,
                "url": self.file_url(built),
                "hashes": {"sha256": built.listed_sha256},
                "requires-python": built.requires_python,
                "size": built.size,
                "upload-time": built.upload_time,
                "yanked": built.yanked,
                "core-metadata": metadata,
                "data-dist-info-metadata": metadata,
                "provenance": None,
            })
        return json_bytes({"meta": {"api-version": API_VERSION, "_last-serial": serial},
                           "name": project.normalized, "project-status": status,
                           "versions": versions, "files": entries})

    def simple_html(self, project: ProjectSpec, serial: int, files: list[BuiltFile]) -> bytes:
        head = ['<!DOCTYPE html>', '<html lang="en">', '  <head>',
                f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
                f'    <meta name="pypi:project-status" content="{project.status}">']
        if project.status_reason:
            head.append('    <meta name="pypi:project-status-reason" '
                        f'content="{html.escape(project.status_reason)}">')
        head += [f"    <title>Links for {project.normalized}</title>", "  </head>", "  <body>",
                 f"    <h1>Links for {project.normalized}</h1>"]
        for built in files:
            attrs = [f'href="{html.escape(self.file_url(built))}#sha256={built.listed_sha256}"']
            if built.requires_python:
                attrs.append(f'data-requires-python="{html.escape(built.requires_python)}"')
            if built.yanked is not False:
                reason = "" if built.yanked is True else built.yanked
                attrs.append(f'data-yanked="{html.escape(reason)}"')
            if built.listed_metadata_sha256:
                value = f"sha256={built.listed_metadata_sha256}"
                attrs += [f'data-dist-info-metadata="{value}"', f'data-core-metadata="{value}"']
            head.append(f"    <a {' '.join(attrs)}>{html.escape(built.filename)}</a><br />")
        head += ["  </body>", "</html>", f"<!--SERIAL {serial}-->"]
        return ("\n".join(head) + "\n").encode()

    def legacy_json(self, project: ProjectSpec, serial: int,
                    releases: list[tuple[ReleaseSpec, list[BuiltFile]]]) -> bytes:
        """The /pypi/<name>/json body (§1.4): info of the "latest" release plus all releases."""
        latest, latest_files = max(
            enumerate(releases),
            key=lambda item: (not item[1][0].yanked, not is_prerelease(item[1][0].version),
                              item[0]))[1]
        file_lists = {release.version: [self._legacy_file(built) for built in built_files]
                      for release, built_files in releases}
        reason = latest.yanked if isinstance(latest.yanked, str) else None
        info = {
            "author": "", "author_email": "cistern@example.invalid", "bugtrack_url": None,
            "classifiers": [], "description": f"{project.name} is a generated project.",
            "description_content_type": "text/plain", "docs_url": None, "download_url": "",
            "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
            "dynamic": None, "home_page": "", "keywords": "", "license": "",
            "maintainer": "", "maintainer_email": "", "name": project.name,
            "package_url": f"https://pypi.org/project/{project.normalized}/",
            "platform": None,
            "project_url": f"https://pypi.org/project/{project.normalized}/",
            "project_urls": None, "provides_extra": None,
            "release_url": f"https://pypi.org/project/{project.normalized}/{latest.version}/",
            "requires_dist": latest.requires_dist or None,
            "requires_python": latest.requires_python or "",
            "summary": f"{project.name} {latest.version}, generated for cistern's tests",
            "version": latest.version, "yanked": bool(latest.yanked), "yanked_reason": reason,
        }
        return json_bytes({"info": info, "last_serial": serial, "releases": file_lists,
                           "urls": [self._legacy_file(built) for built in latest_files],
                           "vulnerabilities": [],
                           "ownership": {"roles": [], "organization": None}})

    def _legacy_file(self, built: BuiltFile) -> dict[str, object]:
        metadata: Union[bool, dict[str, str]] = (
            {"sha256": built.listed_metadata_sha256} if built.listed_metadata_sha256 else False)
        return {
            "comment_text": "",
            "digests": {"blake2b_256": built.blake2b_256, "md5": built.md5,
                        "sha256": built.listed_sha256},
            "downloads": -1, "filename": built.filename, "has_sig": False,
            "md5_digest": built.md5, "packagetype": built.packagetype,
            "python_version": built.python_version, "requires_python": built.requires_python,
            "size": built.size, "upload_time": built.upload_time[:19],
            "upload_time_iso_8601": built.upload_time, "url": self.file_url(built),
            "yanked": built.yanked is not False,
            "yanked_reason": built.yanked if isinstance(built.yanked, str) else None,
            "core-metadata": metadata,
        }


def root_pages(projects: list[tuple[ProjectSpec, int]], serial: int) -> tuple[bytes, bytes]:
    """(index.v1_json, index.html) of /simple/, sorted by normalized name as PyPI does."""
    ordered = sorted(projects, key=lambda item: item[0].normalized)
    body = json_bytes({"meta": {"api-version": API_VERSION, "_last-serial": serial},
                       "projects": [{"name": p.name, "_last-serial": s} for p, s in ordered]})
    lines = ["<!DOCTYPE html>", '<html lang="en">', "  <head>",
             f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
             "    <title>Simple index</title>", "  </head>", "  <body>"]
    lines += [f'    <a href="/simple/{p.normalized}/">{html.escape(p.name)}</a>'
              for p, _ in ordered]
    lines += ["  </body>", "</html>"]
    return body, ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------- the writer


def write_bytes(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as stream:
        stream.write(data)


class BackgroundWriter:
    """Writes files on a few threads, holding at most `max_pending` bytes in memory.

    Creating ~10^4 directories and files is bound by file-system latency rather than CPU,
    and open/mkdir/write release the GIL, so overlapping them makes large profiles fast.
    The bytes written do not depend on the order, so the output stays deterministic.
    """

    def __init__(self, threads: int = 4, max_pending: int = 256 * MIB):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
        self._pending: collections.deque[tuple[concurrent.futures.Future[None], int]] = (
            collections.deque())
        self._pending_bytes = 0
        self._max_pending = max_pending

    def write(self, path: str, data: bytes) -> None:
        while self._pending and self._pending_bytes + len(data) > self._max_pending:
            self._retire_oldest()
        self._pending.append((self._pool.submit(write_bytes, path, data), len(data)))
        self._pending_bytes += len(data)

    def close(self) -> None:
        """Waits for every write; raises the first write error."""
        try:
            while self._pending:
                self._retire_oldest()
        finally:
            self._pool.shutdown()

    def _retire_oldest(self) -> None:
        future, size = self._pending.popleft()
        self._pending_bytes -= size
        future.result()


def python_version(spec: FileSpec) -> str:
    return spec.tags.split("-")[0] if spec.kind == "wheel" else "source"


class TreeWriter:
    """Builds every file of every project, writes the tree and collects the manifest."""

    def __init__(self, out: str, rng: random.Random, pool: RandomPool,
                 files_base: Optional[str]):
        self.tree = os.path.join(out, "tree")
        self._rng = rng
        self._pool = pool
        self._renderer = PageRenderer(files_base)
        self._hasher = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._writer = BackgroundWriter()

    def write(self, path: str, data: bytes) -> None:
        """Writes `data` at `path` relative to the tree (asynchronously)."""
        self._writer.write(os.path.join(self.tree, path), data)

    def close(self) -> None:
        """Finishes all writes; raises the first write error."""
        self._hasher.shutdown()
        self._writer.close()

    def write_project(self, project: ProjectSpec, serials: list[int]) -> dict[str, object]:
        """Writes files and pages of `project`; returns its manifest entry."""
        serial_iter = iter(serials[1:])  # serials[0] is "create"
        releases: list[tuple[ReleaseSpec, list[BuiltFile]]] = []
        for release in project.releases:
            next(serial_iter)  # "new release"
            built_files = [self._write_file(project, release, spec, next(serial_iter))
                           for spec in release.files]
            if release.yanked:
                next(serial_iter)
            releases.append((release, built_files))
        serial = serials[-1]
        self._apply_fault(project, releases)
        files = sorted((built for _, built_files in releases for built in built_files),
                       key=lambda built: (self._version_rank(project, built.version),
                                          built.filename))
        versions = [release.version for release, built_files in releases if built_files]
        page_dir = f"simple/{project.normalized}"
        page_json = self._renderer.simple_json(project, serial, versions, files)
        if project.fault == "bad-page":
            page_json = page_json[:len(page_json) // 2]
        page_html = self._renderer.simple_html(project, serial, files)
        self.write(f"{page_dir}/index.v1_json", page_json)
        self.write(f"{page_dir}/index.html", page_html)
        self.write(f"{page_dir}/index.v1_html", page_html)
        if files:  # PyPI's JSON API answers 404 for a project without releases
            self.write(f"pypi/{project.normalized}/json",
                       self._renderer.legacy_json(project, serial, releases))
        entry: dict[str, object] = {
            "name": project.name, "normalized": project.normalized, "serial": serial,
            "status": project.status, "versions": versions,
            "files": [manifest_file(built) for built in files]}
        if project.status_reason:
            entry["status_reason"] = project.status_reason
        # What evolve.py needs to re-render the pages of a later generation.
        entry["releases"] = [manifest_release(release, built_files)
                             for release, built_files in releases]
        return entry

    @staticmethod
    def _version_rank(project: ProjectSpec, version: str) -> int:
        return [release.version for release in project.releases].index(version)

    def _write_file(self, project: ProjectSpec, release: ReleaseSpec, spec: FileSpec,
                    serial: int) -> BuiltFile:
        payload = self._pool.take(spec.payload) if spec.payload else b""
        filename, content, metadata = build_file(project, release, spec, payload)
        # hashlib releases the GIL on large buffers: hash on both cores.
        md5_future = self._hasher.submit(lambda: hashlib.md5(content).hexdigest())
        sha256_future = self._hasher.submit(lambda: hashlib.sha256(content).hexdigest())
        blake = hashlib.blake2b(content, digest_size=32).hexdigest()
        path = f"packages/{blake[0:2]}/{blake[2:4]}/{blake[4:64]}/{filename}"
        sha256 = sha256_future.result()
        metadata_sha256 = hashlib.sha256(metadata).hexdigest() if metadata else None
        missing = project.fault == "missing-file" and spec.kind == "sdist"
        if not missing:
            self.write(path, content)
            if metadata:
                self.write(path + ".metadata", metadata)
        return BuiltFile(
            filename=filename, version=release.version, path=path, size=len(content),
            sha256=sha256, md5=md5_future.result(), blake2b_256=blake,
            packagetype="bdist_wheel" if spec.kind == "wheel" else "sdist",
            python_version=python_version(spec), requires_python=release.requires_python,
            yanked=release.yanked, upload_time=upload_time(self._rng, serial),
            metadata_sha256=metadata_sha256, listed_sha256=sha256,
            listed_metadata_sha256=metadata_sha256)

    def _apply_fault(self, project: ProjectSpec,
                     releases: list[tuple[ReleaseSpec, list[BuiltFile]]]) -> None:
        """Makes the index lie about `project` in the way its fault kind says."""
        if not project.fault:
            return
        first = releases[0][1][0]  # the wheel of 1.0
        if project.fault == "bad-hash":
            first.listed_sha256 = hashlib.sha256(b"not the file").hexdigest()
        elif project.fault == "bad-metadata":
            first.listed_metadata_sha256 = hashlib.sha256(b"not the metadata").hexdigest()
        elif project.fault == "traversal":
            directory = first.path.rsplit("/", 1)[0]
            for name, url_path in (("../../evil.whl", f"{directory}/../../evil.whl"),
                                   ("..\\..\\evil2.whl", f"{directory}/..%5C..%5Cevil2.whl")):
                releases[0][1].append(dataclasses.replace(
                    first, filename=name, path=f"{directory}/{name}", url_path=url_path,
                    metadata_sha256=None, listed_metadata_sha256=None))



def manifest_file(built: BuiltFile) -> dict[str, object]:
    """A file's manifest entry; `md5` and `python_version` let evolve.py re-render pages."""
    return {"filename": built.filename, "version": built.version, "path": built.path,
            "sha256": built.sha256, "blake2b_256": built.blake2b_256, "size": built.size,
            "packagetype": built.packagetype, "yanked": built.yanked,
            "metadata_sha256": built.metadata_sha256,
            "requires_python": built.requires_python, "upload_time": built.upload_time,
            "md5": built.md5, "python_version": built.python_version}


def manifest_release(release: ReleaseSpec, built_files: list[BuiltFile]) -> dict[str, object]:
    """A release's own attributes (legacy JSON `info` needs them) and its filenames in upload
    order (the order of its files in the legacy JSON)."""
    return {"version": release.version, "requires_python": release.requires_python,
            "requires_dist": list(release.requires_dist), "yanked": release.yanked,
            "filenames": [built.filename for built in built_files]}


def generate(out: str, seed: int, profile_name: str, projects: int, files_base: Optional[str],
             faults: bool, total_mb: int) -> dict[str, object]:
    """Writes OUT/tree and OUT/manifest.json; returns the manifest."""
    profile = PROFILES[profile_name]
    tree = os.path.join(out, "tree")
    if os.path.exists(tree) and os.listdir(tree):
        raise SystemExit(f"generate.py: {tree} exists and is not empty")
    rng = random.Random(seed)
    specials = special_projects(profile)
    wanted = projects or profile.projects
    filler_count = max(0, wanted - len(specials))
    special_payload = sum(spec.payload for p in specials for r in p.releases for spec in r.files)
    if profile_name == "large":
        filler_payload = max(0, total_mb * MIB - special_payload)
    else:
        filler_payload = int(profile.filler_payload_mb * MIB)
    catalogue = specials + filler_projects(rng, filler_count, filler_payload)
    if faults:
        catalogue += fault_projects()
    if len({p.normalized for p in catalogue}) != len(catalogue):
        raise SystemExit("generate.py: two projects normalize to the same name")
    serials = assign_serials(rng, catalogue)
    largest = max((spec.payload for p in catalogue for r in p.releases for spec in r.files),
                  default=0)
    pool = RandomPool(rng, min(largest, 64 * MIB))
    writer = TreeWriter(out, rng, pool, files_base)
    try:
        entries = {p.normalized: writer.write_project(p, serials[p.normalized])
                   for p in catalogue}
    finally:
        writer.close()
    last_serial = FIRST_SERIAL + sum(len(s) for s in serials.values()) - 1
    index_json, index_html = root_pages([(p, serials[p.normalized][-1]) for p in catalogue],
                                        last_serial)
    write_bytes(os.path.join(tree, "simple", "index.v1_json"), index_json)
    write_bytes(os.path.join(tree, "simple", "index.html"), index_html)
    write_bytes(os.path.join(tree, "simple", "index.v1_html"), index_html)
    manifest = {
        "generator": GENERATOR, "profile": profile_name, "seed": seed,
        "files_base": files_base, "serial": last_serial,
        # evolve.py: generations count up; new filler names continue from this index.
        "generation": 0, "next_name_index": filler_count,
        "projects": [entries[p.normalized] for p in sorted(catalogue, key=lambda p: p.normalized)
                     if not p.fault],
        "faults": {p.normalized: {"kind": p.fault, "description": FAULT_DESCRIPTIONS[p.fault][0],
                                  "expect": FAULT_DESCRIPTIONS[p.fault][1],
                                  **entries[p.normalized]}
                   for p in catalogue if p.fault},
    }
    write_bytes(os.path.join(out, "manifest.json"),
                json.dumps(manifest, indent=1, sort_keys=False).encode() + b"\n")
    return manifest


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory (tree/ + manifest.json)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="small")
    parser.add_argument("--projects", type=int, default=0,
                        help="number of regular projects (default: the profile's)")
    parser.add_argument("--total-mb", type=int, default=5000,
                        help="large profile only: total payload in MiB (default 5000)")
    parser.add_argument("--files-base", default=None,
                        help="absolute base URL of /packages/ (default: page-relative URLs)")
    parser.add_argument("--faults", action="store_true",
                        help="add projects a mirror must reject or defer")
    evolution = parser.add_argument_group("later generations (evolve.py)")
    evolution.add_argument("--evolve-from", metavar="PREV_DIR",
                           help="write the next generation of the upstream in PREV_DIR "
                                "(hard-links its files; --out must be on the same file system)")
    evolution.add_argument("--changes", type=int, default=12,
                           help="number of change events (default 12: each kind once)")
    evolution.add_argument("--bump-serials", type=int, default=0, metavar="K",
                           help="with --evolve-from: only K serial bumps (role events)")
    scale = parser.add_argument_group("scale mode (evolve.py)")
    scale.add_argument("--root-only", action="store_true",
                       help="a root index of --projects projects and full pages for a sample")
    scale.add_argument("--sample-pages", type=int, default=1000,
                       help="--root-only: projects with pages and files (default 1000)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.evolve_from or args.root_only:
        sys.modules.setdefault("generate", sys.modules[__name__])
        import evolve  # pylint: disable=import-outside-toplevel
        if args.evolve_from:
            print(evolve.summary(evolve.evolve(args.evolve_from, args.out, args.seed,
                                               args.changes, args.bump_serials)),
                  file=sys.stderr)
        else:
            evolve.root_only(args.out, args.seed, args.projects or 740_000, args.sample_pages,
                             args.files_base)
        return 0
    manifest = generate(args.out, args.seed, args.profile, args.projects, args.files_base,
                        args.faults, args.total_mb)
    files = [f for p in manifest["projects"] for f in p["files"]]  # type: ignore[index]
    print(f"generate.py: {len(manifest['projects'])} projects, {len(files)} files, "  # type: ignore[arg-type]
          f"{sum(f['size'] for f in files) / MIB:.1f} MiB, serial {manifest['serial']}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

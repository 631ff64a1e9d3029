"""Later generations of a generate.py upstream, and the root-only scale mode.

Used through generate.py (`--evolve-from`, `--root-only`); see README.md. The next
generation is computed from the previous one's manifest.json alone (plus its tree, whose
files are hard-linked), so generations chain: gen0 -> gen1 -> gen2 ... Only the Python
standard library is used; the output depends only on the arguments and the previous
generation's bytes.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import html
import json
import os
import random
import re
import sys
import time
from typing import Callable, Optional

import generate as g

# Projects the tests rely on (pip resolution, yanks, names, statuses): evolution never
# touches them. Only filler projects and projects created by evolution are changed.
SPECIAL_NAMES = frozenset(p.normalized for p in g.special_projects(g.PROFILES["small"]))

# Kinds every generation contains when --changes is at least their number. "yank_reason"
# and "yank_true" are both written as kind "yank" (with and without a reason).
REQUIRED_KINDS = ["new_project", "new_release", "late_wheel", "yank_reason", "yank_true",
                  "unyank", "remove_file", "remove_release", "delete_project", "rename",
                  "status", "quarantine"]
# Relative weights of the events beyond the required ones.
EXTRA_WEIGHTS = {"new_release": 6, "new_project": 3, "late_wheel": 3, "yank_reason": 1,
                 "yank_true": 1, "unyank": 2, "remove_file": 2, "remove_release": 1,
                 "delete_project": 1, "rename": 1, "status": 1, "quarantine": 0.5, "role": 2}
# A kind with no eligible target falls back to these, in order (new_project always works).
FALLBACK_KINDS = ["new_release", "new_project"]
DESTRUCTIVE_KINDS = frozenset({"delete_project", "quarantine", "remove_release", "remove_file"})
LATE_WHEEL_TAGS = g.PLATFORM_TAGS + ["py2.py3-none-any", "py3-none-any"]
YANK_REASONS = ["broken build: missing module", "security issue, use the next release",
                "uploaded by mistake", "wrong requires-python"]
ARCHIVE_REASONS = ["no longer maintained", "merged into another project",
                   "superseded by a new major version"]
ROOT_PAGES = ("simple/index.v1_json", "simple/index.html", "simple/index.v1_html")


# --------------------------------------------------------------------------- state


@dataclasses.dataclass
class Release:
    version: str
    requires_python: Optional[str]
    requires_dist: list[str]
    yanked: g.Yanked
    files: list[g.BuiltFile]  # upload order


@dataclasses.dataclass
class Project:
    """One project of the previous manifest, as evolution changes it."""

    name: str
    normalized: str
    serial: int
    status: str
    status_reason: Optional[str]
    releases: list[Release]
    retired_filenames: list[str]  # removed files; PyPI never accepts a filename twice
    retired_versions: list[str]  # removed releases
    entry: dict  # the manifest entry as read (written back unchanged if untouched)
    special: bool = False
    created: bool = False  # created in this generation

    def files(self) -> list[g.BuiltFile]:
        """Files in page order: (release order, filename), as generate.py sorts them."""
        return [built for release in self.releases
                for built in sorted(release.files, key=lambda b: b.filename)]

    def versions(self) -> list[str]:
        """PyPI derives `versions` from files: releases without files are not listed."""
        return [release.version for release in self.releases if release.files]

    def filenames_ever(self) -> set[str]:
        return ({b.filename for r in self.releases for b in r.files}
                | set(self.retired_filenames))

    def spec(self) -> g.ProjectSpec:
        return g.ProjectSpec(self.name, [release_spec(r) for r in self.releases],
                             status=self.status, status_reason=self.status_reason)


def release_spec(release: Release) -> g.ReleaseSpec:
    return g.ReleaseSpec(release.version, [], requires_python=release.requires_python,
                         requires_dist=list(release.requires_dist), yanked=release.yanked)


def built_from_manifest(entry: dict) -> g.BuiltFile:
    if "md5" not in entry:
        raise SystemExit("generate.py: the previous manifest has no md5/python_version per "
                         "file; regenerate generation 0 with this generate.py")
    return g.BuiltFile(
        filename=entry["filename"], version=entry["version"], path=entry["path"],
        size=entry["size"], sha256=entry["sha256"], md5=entry["md5"],
        blake2b_256=entry["blake2b_256"], packagetype=entry["packagetype"],
        python_version=entry["python_version"], requires_python=entry["requires_python"],
        yanked=entry["yanked"], upload_time=entry["upload_time"],
        metadata_sha256=entry["metadata_sha256"], listed_sha256=entry["sha256"],
        listed_metadata_sha256=entry["metadata_sha256"])


def project_from_manifest(entry: dict) -> Project:
    if "releases" not in entry:
        raise SystemExit("generate.py: the previous manifest has no per-project releases; "
                         "regenerate generation 0 with this generate.py")
    by_name = {f["filename"]: built_from_manifest(f)
               for f in entry["files"] + entry.get("held_files", [])}
    releases = [Release(r["version"], r["requires_python"], list(r["requires_dist"]),
                        r["yanked"], [by_name[name] for name in r["filenames"]])
                for r in entry["releases"]]
    return Project(name=entry["name"], normalized=entry["normalized"], serial=entry["serial"],
                   status=entry["status"], status_reason=entry.get("status_reason"),
                   releases=releases, retired_filenames=list(entry.get("retired_filenames", [])),
                   retired_versions=list(entry.get("retired_versions", [])), entry=entry,
                   special=entry["normalized"] in SPECIAL_NAMES)


def project_entry(project: Project) -> dict:
    """The manifest entry of a project, in generate.py's shape plus evolution's keys."""
    if project.status == "quarantined":
        files, versions = [], []
    else:
        files, versions = project.files(), project.versions()
    entry: dict[str, object] = {
        "name": project.name, "normalized": project.normalized, "serial": project.serial,
        "status": project.status, "versions": versions,
        "files": [g.manifest_file(built) for built in files]}
    if project.status_reason:
        entry["status_reason"] = project.status_reason
    if project.status == "quarantined":  # not listed, not on disk; kept as state
        entry["held_files"] = [g.manifest_file(built) for built in project.files()]
    entry["releases"] = [g.manifest_release(release_spec(r), r.files) for r in project.releases]
    if project.retired_filenames:
        entry["retired_filenames"] = sorted(project.retired_filenames)
    if project.retired_versions:
        entry["retired_versions"] = list(project.retired_versions)
    return entry


def page_paths(normalized: str) -> list[str]:
    return [f"simple/{normalized}/index.v1_json", f"simple/{normalized}/index.html",
            f"simple/{normalized}/index.v1_html", f"pypi/{normalized}/json"]


def render_pages(renderer: g.PageRenderer, project: Project) -> dict[str, bytes]:
    """Tree-relative path -> bytes of every page of `project` (generate.py's renderer).

    A quarantined project keeps a page with `project-status` quarantined and no files or
    versions, and has no legacy JSON (PyPI answers 404), as on pypi.org.
    """
    spec = project.spec()
    quarantined = project.status == "quarantined"
    files = [] if quarantined else project.files()
    versions = [] if quarantined else project.versions()
    page_html = renderer.simple_html(spec, project.serial, files)
    pages = {f"simple/{project.normalized}/index.v1_json":
             renderer.simple_json(spec, project.serial, versions, files),
             f"simple/{project.normalized}/index.html": page_html,
             f"simple/{project.normalized}/index.v1_html": page_html}
    if files:
        pages[f"pypi/{project.normalized}/json"] = renderer.legacy_json(
            spec, project.serial,
            [(spec_release, release.files)
             for spec_release, release in zip(spec.releases, project.releases)])
    return pages


def file_paths(project: Project) -> set[str]:
    """Tree paths of the files (and .metadata files) the project's page lists."""
    if project.status == "quarantined":
        return set()
    paths = set()
    for built in project.files():
        paths.add(built.path)
        if built.metadata_sha256:
            paths.add(built.path + ".metadata")
    return paths


def version_key(version: str) -> tuple[int, ...]:
    match = re.match(r"^(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def display_variants(normalized: str) -> list[str]:
    """Display names that normalize to `normalized` (PEP 503), in a fixed order."""
    parts = normalized.split("-")
    return ["_".join(parts), ".".join(parts), "-".join(p.capitalize() for p in parts),
            "_".join(p.capitalize() for p in parts), "-".join(parts).upper(),
            ".".join(p.capitalize() for p in parts), normalized]


# --------------------------------------------------------------------------- events


class Evolution:
    """Plays change events against the previous generation's projects."""

    def __init__(self, manifest: dict, rng: random.Random):
        self.manifest = manifest
        self.rng = rng
        self.serial = manifest["serial"]
        self.projects: dict[str, Project] = {
            e["normalized"]: project_from_manifest(e) for e in manifest["projects"]}
        self.quarantined: dict[str, dict] = dict(manifest.get("quarantined", {}))
        self.faults: dict[str, dict] = dict(manifest.get("faults", {}))
        self.next_name_index = manifest.get("next_name_index", len(self.projects) + 1000)
        self.touched: set[str] = set()  # changed in this generation (pages re-rendered)
        self.deleted: set[str] = set()
        self.events: list[dict] = []
        self.blobs: dict[str, bytes] = {}  # new files: tree path -> bytes

    # ---- helpers

    def eligible(self, kind: str) -> list[Project]:
        """Projects an event of `kind` may change: fillers and new projects, active ones.

        Destructive events prefer projects untouched in this generation (so an earlier event
        of this generation, e.g. the yank an unyank needs, keeps its project), and never
        take a project created in this generation.
        """
        base = [p for p in self.projects.values()
                if not p.special and p.status != "quarantined"]
        if kind in DESTRUCTIVE_KINDS:
            base = [p for p in base if not p.created]
            fresh = [p for p in base if p.normalized not in self.touched]
            if fresh:
                return fresh
        return base

    def choose(self, candidates: list) -> Optional[object]:
        return self.rng.choice(candidates) if candidates else None

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def event(self, kind: str, action: str, project: Project, versions: list[str],
              filenames: list[str], **extra: object) -> dict:
        serial = self.next_serial()
        project.serial = serial
        self.touched.add(project.normalized)
        record = {"kind": kind, "serial": serial, "action": action,
                  "project": project.normalized, "name": project.name,
                  "versions": versions, "filenames": filenames}
        record.update(extra)
        self.events.append(record)
        return record

    def build(self, project: Project, release: Release, spec: g.FileSpec,
              serial: int) -> g.BuiltFile:
        """Builds a new file of `release` and keeps its bytes for writing."""
        payload = self.rng.randbytes(spec.payload) if spec.payload else b""
        filename, content, metadata = g.build_file(
            g.ProjectSpec(project.name, []), release_spec(release), spec, payload)
        blake = hashlib.blake2b(content, digest_size=32).hexdigest()
        path = f"packages/{blake[0:2]}/{blake[2:4]}/{blake[4:64]}/{filename}"
        sha256 = hashlib.sha256(content).hexdigest()
        metadata_sha256 = hashlib.sha256(metadata).hexdigest() if metadata else None
        self.blobs[path] = content
        if metadata:
            self.blobs[path + ".metadata"] = metadata
        return g.BuiltFile(
            filename=filename, version=release.version, path=path, size=len(content),
            sha256=sha256, md5=hashlib.md5(content).hexdigest(), blake2b_256=blake,
            packagetype="bdist_wheel" if spec.kind == "wheel" else "sdist",
            python_version=g.python_version(spec), requires_python=release.requires_python,
            yanked=release.yanked, upload_time=g.upload_time(self.rng, serial),
            metadata_sha256=metadata_sha256, listed_sha256=sha256,
            listed_metadata_sha256=metadata_sha256)

    def random_files(self) -> list[g.FileSpec]:
        """A filler-like file set: a pure wheel, often an sdist, sometimes a platform wheel."""
        files = [g.wheel(payload=self.rng.randrange(0, 8192))]
        if self.rng.random() < 0.6:
            files.append(g.sdist())
        if self.rng.random() < 0.3:
            files.append(g.wheel(self.rng.choice(g.PLATFORM_TAGS),
                                 payload=self.rng.randrange(0, 8192)))
        return files

    def add_release(self, project: Project, version: str, serial: int) -> Release:
        release = Release(version, self.rng.choice(g.REQUIRES_PYTHON), [], False, [])
        project.releases.append(release)
        release.files = [self.build(project, release, spec, serial)
                         for spec in self.random_files()]
        return release

    def next_version(self, project: Project) -> str:
        versions = [r.version for r in project.releases] + project.retired_versions
        major, minor = max((version_key(v) for v in versions), default=(0, 0))
        return f"{major}.{minor + 1}.0"

    # ---- the kinds; each returns the event or None when nothing is eligible

    def new_project(self) -> Optional[dict]:
        taken = set(self.projects) | set(self.quarantined) | set(self.faults) | self.deleted
        while True:
            name = g.filler_name(self.rng, self.next_name_index)
            self.next_name_index += 1
            if g.normalize(name) not in taken and g.normalize(name) not in SPECIAL_NAMES:
                break
        project = Project(name=name, normalized=g.normalize(name), serial=0, status="active",
                          status_reason=None, releases=[], retired_filenames=[],
                          retired_versions=[], entry={}, created=True)
        self.projects[project.normalized] = project
        serial = self.serial + 1
        for minor in range(self.rng.randint(1, 3)):
            self.add_release(project, f"0.{minor + 1}.0", serial)
        return self.event("new_project", "create", project, project.versions(),
                          [b.filename for b in project.files()])

    def new_release(self) -> Optional[dict]:
        project = self.choose(self.eligible("new_release"))
        if project is None:
            return None
        release = self.add_release(project, self.next_version(project), self.serial + 1)
        return self.event("new_release", "new release", project, [release.version],
                          sorted(b.filename for b in release.files))

    def late_wheel(self) -> Optional[dict]:
        """A wheel uploaded later to an old release (not the newest), as for a new platform."""
        candidates = [(p, r) for p in self.eligible("late_wheel") for r in p.releases[:-1]]
        if not candidates:
            candidates = [(p, r) for p in self.eligible("late_wheel") for r in p.releases]
        choice = self.choose(candidates)
        if choice is None:
            return None
        project, release = choice
        taken = project.filenames_ever()
        spec_project, spec_release = g.ProjectSpec(project.name, []), release_spec(release)
        options = [g.wheel(tags) for tags in LATE_WHEEL_TAGS]
        options = [s for s in options if g.file_name(spec_project, spec_release, s) not in taken]
        if options:
            spec = self.rng.choice(options)
        else:
            build = 1
            while g.file_name(spec_project, spec_release, g.wheel(build=str(build))) in taken:
                build += 1
            spec = g.wheel(build=str(build))
        spec.payload = self.rng.randrange(0, 8192)
        built = self.build(project, release, spec, self.serial + 1)
        release.files.append(built)
        return self.event("late_wheel", f"add {built.python_version} file {built.filename}",
                          project, [release.version], [built.filename])

    def yank(self, with_reason: bool) -> Optional[dict]:
        kind = "yank_reason" if with_reason else "yank_true"
        candidates = [(p, r) for p in self.eligible(kind) for r in p.releases
                      if r.files and r.yanked is False]
        choice = self.choose(candidates)
        if choice is None:
            return None
        project, release = choice
        reason = self.rng.choice(YANK_REASONS) if with_reason else None
        self.set_yanked(release, reason if reason else True)
        return self.event("yank", "yank release", project, [release.version],
                          sorted(b.filename for b in release.files), reason=reason)

    def unyank(self) -> Optional[dict]:
        candidates = [(p, r) for p in self.eligible("unyank") for r in p.releases
                      if r.files and r.yanked is not False]
        choice = self.choose(candidates)
        if choice is None:
            return None
        project, release = choice
        self.set_yanked(release, False)
        return self.event("unyank", "unyank release", project, [release.version],
                          sorted(b.filename for b in release.files))

    @staticmethod
    def set_yanked(release: Release, yanked: g.Yanked) -> None:
        """Yanking is per release on PyPI; every file of the release shows it."""
        release.yanked = yanked
        release.files = [dataclasses.replace(b, yanked=yanked) for b in release.files]

    def remove_file(self) -> Optional[dict]:
        candidates = [(p, r) for p in self.eligible("remove_file") for r in p.releases
                      if len(r.files) >= 2]
        choice = self.choose(candidates)
        if choice is None:
            return None
        project, release = choice
        built = self.rng.choice(sorted(release.files, key=lambda b: b.filename))
        release.files.remove(built)
        project.retired_filenames.append(built.filename)
        return self.event("remove_file", f"remove file {built.filename}", project,
                          [release.version], [built.filename])

    def remove_release(self) -> Optional[dict]:
        candidates = [(p, r) for p in self.eligible("remove_release")
                      if len([r for r in p.releases if r.files]) >= 2
                      for r in p.releases if r.files]
        choice = self.choose(candidates)
        if choice is None:
            return None
        project, release = choice
        project.releases.remove(release)
        project.retired_versions.append(release.version)
        project.retired_filenames += [b.filename for b in release.files]
        return self.event("remove_release", "remove release", project, [release.version],
                          sorted(b.filename for b in release.files))

    def delete_project(self) -> Optional[dict]:
        project = self.choose(self.eligible("delete_project"))
        if project is None:
            return None
        record = self.event("delete_project", "remove project", project, project.versions(),
                            [b.filename for b in project.files()])
        del self.projects[project.normalized]
        self.deleted.add(project.normalized)
        return record

    def rename(self) -> Optional[dict]:
        """A new display name for the same normalized name (root list, legacy JSON info,
        METADATA of files uploaded from now on); PyPI's Simple page shows the normalized
        name, so only its serial changes."""
        project = self.choose(self.eligible("rename"))
        if project is None:
            return None
        old = project.name
        project.name = self.rng.choice([v for v in display_variants(project.normalized)
                                        if v != old])
        return self.event("rename", f"rename display name from {old}", project, [], [],
                          old_name=old)

    def status(self) -> Optional[dict]:
        """PEP 792 status change. On PyPI archiving writes no journal entry (protocol §1.9),
        so a serial-driven mirror would not see it; here it is paired with a serial so the
        page change is observable."""
        project = self.choose(self.eligible("status"))
        if project is None:
            return None
        old_status, old_reason = project.status, project.status_reason
        if old_status == "active":
            if self.rng.random() < 0.6:
                project.status, project.status_reason = ("archived",
                                                         self.rng.choice(ARCHIVE_REASONS))
            else:
                project.status, project.status_reason = "deprecated", None
        else:
            project.status, project.status_reason = "active", None
        return self.event("status", f"project status {project.status}", project, [], [],
                          old_status=old_status, old_status_reason=old_reason,
                          status=project.status, status_reason=project.status_reason)

    def quarantine(self) -> Optional[dict]:
        """PEP 792 quarantine: gone from the root list, the page lists no files, the legacy
        JSON answers 404; the files leave the tree. The project stays quarantined."""
        project = self.choose([p for p in self.eligible("quarantine") if p.status == "active"])
        if project is None:
            return None
        files = [b.filename for b in project.files()]
        project.status, project.status_reason = "quarantined", None
        return self.event("quarantine", "project quarantined", project, [], files,
                          status="quarantined")

    def role(self) -> Optional[dict]:
        """A role event: the serial moves, nothing else changes (the page's serial does)."""
        candidates = self.eligible("role")
        fresh = [p for p in candidates if p.normalized not in self.touched]
        project = self.choose(fresh or candidates)  # --bump-serials: K distinct projects
        if project is None:
            return None
        return self.event("role", f"add Maintainer user{self.rng.randrange(1000)}", project,
                          [], [])

    def apply_all(self, kinds: list[str]) -> None:
        """Applies the kinds in order. A kind with nothing eligible is retried once after
        the others (an unyank after this generation's yanks), then falls back."""
        queue = [(kind, False) for kind in kinds]
        while queue:
            kind, deferred = queue.pop(0)
            if deferred or kind in FALLBACK_KINDS:
                self.apply(kind)
            elif self.try_apply(kind) is None:
                queue.append((kind, True))

    def try_apply(self, kind: str) -> Optional[dict]:
        return self.handlers()[kind]()

    def handlers(self) -> dict[str, Callable[[], Optional[dict]]]:
        return {
            "new_project": self.new_project, "new_release": self.new_release,
            "late_wheel": self.late_wheel, "yank_reason": lambda: self.yank(True),
            "yank_true": lambda: self.yank(False), "unyank": self.unyank,
            "remove_file": self.remove_file, "remove_release": self.remove_release,
            "delete_project": self.delete_project, "rename": self.rename,
            "status": self.status, "quarantine": self.quarantine, "role": self.role}

    def apply(self, kind: str) -> dict:
        handlers = self.handlers()
        for attempt in [kind] + FALLBACK_KINDS:
            record = handlers[attempt]()
            if record is not None:
                return record
        raise AssertionError("new_project cannot fail")


def plan_kinds(rng: random.Random, changes: int, has_yanked: bool) -> list[str]:
    """The kinds of `changes` events: every required kind once (a random subset when
    `changes` is smaller), the rest weighted; shuffled, with an unyank moved after the
    first yank when the previous generation has no yanked release to unyank."""
    if changes >= len(REQUIRED_KINDS):
        names = sorted(EXTRA_WEIGHTS)
        kinds = REQUIRED_KINDS + rng.choices(names, [EXTRA_WEIGHTS[n] for n in names],
                                             k=changes - len(REQUIRED_KINDS))
    else:
        kinds = rng.sample(REQUIRED_KINDS, changes)
    rng.shuffle(kinds)
    yanks = [i for i, k in enumerate(kinds) if k in ("yank_reason", "yank_true")]
    if not has_yanked and yanks and "unyank" in kinds:
        first = kinds.index("unyank")
        if first < yanks[0]:
            kinds.pop(first)
            kinds.insert(yanks[0], "unyank")  # yanks[0] moved one left: lands after it
    return kinds


# --------------------------------------------------------------------------- the tree


class TreeBuilder:
    """Builds NEXT/tree from PREV/tree: hard links for what is unchanged, new bytes else."""

    def __init__(self, prev_tree: str, next_tree: str):
        self.prev_tree = prev_tree
        self.next_tree = next_tree
        self.made_dirs: set[str] = set()
        self.linked = 0
        self.copied = 0
        self.written: set[str] = set()
        self.present: set[str] = set()

    def _dir(self, rel: str) -> None:
        directory = os.path.dirname(rel)
        if directory not in self.made_dirs:
            os.makedirs(os.path.join(self.next_tree, directory), exist_ok=True)
            self.made_dirs.add(directory)

    def link(self, rel: str) -> None:
        """Hard-links PREV/tree/rel to NEXT/tree/rel (a copy across file systems). As fast
        as `cp -al`: bound by mkdir, since a large tree has one directory per file."""
        self._dir(rel)
        self.present.add(rel)
        source, target = os.path.join(self.prev_tree, rel), os.path.join(self.next_tree, rel)
        try:
            os.link(source, target)
            self.linked += 1
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
                raise
            with open(source, "rb") as stream:  # another file system: copy
                data = stream.read()
            with open(target, "xb") as stream:
                stream.write(data)
            self.copied += 1

    def write(self, rel: str, data: bytes) -> None:
        """Writes a new file; "x" mode, so a hard-linked inode is never written through."""
        self._dir(rel)
        with open(os.path.join(self.next_tree, rel), "xb") as stream:
            stream.write(data)
        self.written.add(rel)
        self.present.add(rel)

    def put(self, rel: str, data: bytes, prev_paths: set[str]) -> None:
        """Links the previous file when its bytes are `data`, else writes `data`."""
        if rel in prev_paths:
            with open(os.path.join(self.prev_tree, rel), "rb") as stream:
                if stream.read() == data:
                    self.link(rel)
                    return
        self.write(rel, data)


def walk(tree: str) -> set[str]:
    """Tree-relative paths of all regular files under `tree`."""
    paths = set()
    prefix = len(tree) + 1
    for directory, _, files in os.walk(tree):
        for name in files:
            paths.add(os.path.join(directory, name)[prefix:])
    return paths


def write_json(path: str, value: object) -> None:
    with open(path, "w") as stream:
        stream.write(json.dumps(value, indent=1) + "\n")


def write_manifest(path: str, manifest: dict) -> None:
    """Like generate.py's manifest.json but one line per project: json.dumps with indent is
    pure Python and takes seconds for the large profile, without indent it is C."""
    lines = []
    for key, value in manifest.items():
        if key in ("projects", "quarantined", "faults") and value:
            if isinstance(value, list):
                items = [" " * 2 + json.dumps(item) for item in value]
                text = "[\n" + ",\n".join(items) + "\n ]"
            else:
                items = [" " * 2 + json.dumps(k) + ": " + json.dumps(v) for k, v in value.items()]
                text = "{\n" + ",\n".join(items) + "\n }"
        else:
            text = json.dumps(value)
        lines.append(f" {json.dumps(key)}: {text}")
    with open(path, "w") as stream:
        stream.write("{\n" + ",\n".join(lines) + "\n}\n")


def evolve(prev_dir: str, out: str, seed: int, changes: int, bump_serials: int) -> dict:
    """Writes the next generation of PREV_DIR into OUT; returns changes.json's content."""
    with open(os.path.join(prev_dir, "manifest.json")) as stream:
        manifest = json.load(stream)
    prev_tree, next_tree = os.path.join(prev_dir, "tree"), os.path.join(out, "tree")
    if os.path.exists(next_tree) and os.listdir(next_tree):
        raise SystemExit(f"generate.py: {next_tree} exists and is not empty")
    root_only = manifest.get("root_only")
    # The seed and the previous serial together pick the changes: the same previous
    # generation and seed give the same next generation.
    rng = random.Random(f"cistern-evolve:{seed}:{manifest['serial']}")
    evolution = Evolution(manifest, rng)
    if bump_serials or root_only:
        kinds = ["role"] * (bump_serials or changes)
    else:
        has_yanked = any(r.yanked is not False and r.files
                         for p in evolution.eligible("unyank") for r in p.releases)
        kinds = plan_kinds(rng, changes, has_yanked)
    evolution.apply_all(kinds)

    prev_projects = {e["normalized"]: project_from_manifest(e) for e in manifest["projects"]}
    prev_files = set().union(*(file_paths(p) for p in prev_projects.values()))
    next_files = set().union(*(file_paths(p) for p in evolution.projects.values()))
    touched = evolution.touched
    skip = set(ROOT_PAGES) | (prev_files - next_files)
    for name in touched:
        skip.update(page_paths(name))

    prev_paths = walk(prev_tree)
    builder = TreeBuilder(prev_tree, next_tree)
    os.makedirs(next_tree, exist_ok=True)
    for rel in sorted(prev_paths - skip):
        builder.link(rel)
    renderer = g.PageRenderer(manifest.get("files_base"))
    for name in sorted(touched - evolution.deleted):
        project = evolution.projects[name]
        for rel in sorted(file_paths(project) - prev_files):
            builder.write(rel, evolution.blobs[rel])
        for rel, data in sorted(render_pages(renderer, project).items()):
            builder.put(rel, data, prev_paths)

    # The root list: every project but quarantined ones (PyPI omits them), faults included.
    root_projects = {p.normalized: (p.name, p.serial) for p in evolution.projects.values()
                     if p.status != "quarantined"}
    root_projects.update({n: (e["name"], e["serial"]) for n, e in evolution.faults.items()})
    serial = evolution.serial
    if root_only:
        index_json, index_html = scale_root(
            scale_catalogue(root_only["seed"], root_only["projects"]), root_projects, serial)
    else:
        index_json, index_html = g.root_pages(
            [(g.ProjectSpec(name, []), s) for name, s in root_projects.values()], serial)
    for rel, data in zip(ROOT_PAGES, (index_json, index_html, index_html)):
        builder.put(rel, data, prev_paths)

    # The next manifest: untouched entries verbatim, changed ones rebuilt.
    entries, quarantined = [], dict(evolution.quarantined)
    for name in sorted(evolution.projects):
        project = evolution.projects[name]
        entry = project_entry(project) if name in touched else project.entry
        if project.status == "quarantined":
            quarantined[name] = entry
        else:
            entries.append(entry)
    next_manifest = dict(manifest)
    next_manifest.update({
        "serial": serial, "generation": manifest.get("generation", 0) + 1,
        "next_name_index": evolution.next_name_index, "evolve_seed": seed,
        "projects": entries, "quarantined": dict(sorted(quarantined.items()))})
    write_manifest(os.path.join(out, "manifest.json"), next_manifest)

    # changes.json: the exact difference between the two trees.
    added = sorted(builder.present - prev_paths)
    removed = sorted(prev_paths - builder.present)
    modified = sorted(builder.written & prev_paths)
    page_re = re.compile(r"^simple/([^/]+)/index\.v1_json$")
    changed_pages = sorted({m.group(1) for rel in added + modified
                            for m in [page_re.match(rel)] if m})
    created = {p.normalized for p in evolution.projects.values() if p.created}
    report = {
        "from_serial": manifest["serial"], "to_serial": serial,
        "from_generation": manifest.get("generation", 0),
        "generation": next_manifest["generation"], "seed": seed,
        "events": evolution.events,
        "added_paths": added, "removed_paths": removed, "modified_paths": modified,
        "changed_pages": changed_pages,
        "project_serials": {name: evolution.projects[name].serial for name in changed_pages},
        "new_projects": sorted(created),
        "deleted_projects": sorted(evolution.deleted),
        "quarantined_projects": sorted(name for name in touched - evolution.deleted
                                       if evolution.projects[name].status == "quarantined"),
        "renamed_projects": {name: {"from": prev_projects[name].name, "to": project.name}
                             for name, project in sorted(evolution.projects.items())
                             if name in prev_projects
                             and prev_projects[name].name != project.name},
    }
    write_json(os.path.join(out, "changes.json"), report)
    report["_stats"] = {"linked": builder.linked, "copied": builder.copied,
                        "written": len(builder.written)}
    return report


# --------------------------------------------------------------------------- root-only scale


SYLLABLES = ["ba", "be", "bo", "ca", "co", "da", "de", "di", "do", "fa", "fi", "ga", "go",
             "ha", "hi", "ja", "ka", "ki", "ko", "la", "le", "li", "lo", "ma", "me", "mi", "mo",
             "na", "ne", "ni", "no", "pa", "pe", "pi", "po", "py", "ra", "re", "ri", "ro", "sa",
             "se", "si", "so", "ta", "te", "ti", "to", "va", "ve", "vi", "za", "zo", "x", "q",
             "tron", "lib", "kit", "ly", "er", "ion", "ify", "io", "ix", "ex", "ar", "or"]
PREFIXES = ["django", "pytest", "flake8", "types", "sphinx", "py", "azure", "mypy", "jupyter",
            "odoo14-addon", "aws-cdk", "apache-airflow-providers", "tap", "target", "napari"]


def scale_words() -> list[str]:
    """Every 2- and 3-syllable word (~3*10^5): a name's words are picked by index."""
    pairs = [a + b for a in SYLLABLES for b in SYLLABLES]
    return pairs + [p + c for p in pairs for c in SYLLABLES]


def scale_name(bits: int, words: list[str]) -> str:
    """A display name in one of the shapes common on PyPI, from 64 random bits (one
    getrandbits call per name keeps 10^6 names fast). Never two separators in a row:
    scale_catalogue normalizes without a regex."""
    n = len(words)
    style = bits & 0xFF
    w1, w2, w3 = (words[(bits >> 8) % n], words[(bits >> 27) % n], words[(bits >> 46) % n])
    if style < 38:
        return w1
    if style < 128:
        return f"{w1}-{w2}"
    if style < 154:
        return f"{w1}_{w2}"
    if style < 166:
        return f"{w1}.{w2}"
    if style < 192:
        return w1.capitalize() + w2.capitalize()
    if style < 218:
        return f"{w1}-{w2}-{w3}"
    if style < 248:
        return f"{PREFIXES[(bits >> 27) % len(PREFIXES)]}-{w1}"
    return f"{w1}{(bits >> 46) % 98 + 2}"


SCALE_MAX_SERIAL = 30_000_000


def scale_catalogue(seed: int, count: int) -> tuple[list[str], list[str], list[int]]:
    """(display names, normalized names, serials) of `count` projects, sorted by normalized
    name as PyPI sorts its root; unique normalized names and unique serials <= 30M."""
    rng = random.Random(f"cistern-scale:{seed}:{count}")
    words = scale_words()
    getrandbits = rng.getrandbits
    by_normalized: dict[str, str] = {}
    while len(by_normalized) < count:
        name = scale_name(getrandbits(64), words)
        normalized = name.lower().replace("_", "-").replace(".", "-")
        if normalized in by_normalized:
            name += f"-{rng.randrange(10**6)}"
            normalized += name[name.rindex("-"):]
            if normalized in by_normalized:
                continue
        by_normalized[normalized] = name
    serials = rng.sample(range(1, SCALE_MAX_SERIAL), count - 1) + [SCALE_MAX_SERIAL]
    last = rng.randrange(count)  # sample's order is random already; place the maximum
    serials[last], serials[-1] = serials[-1], serials[last]
    normalized_names = sorted(by_normalized)
    return [by_normalized[n] for n in normalized_names], normalized_names, serials


def scale_root(catalogue: tuple[list[str], list[str], list[int]],
               overrides: dict[str, tuple[str, int]], serial: int) -> tuple[bytes, bytes]:
    """Root index.v1_json and index.html of a scale catalogue, with the (name, serial) of the
    projects in `overrides` replaced; the same bytes generate.root_pages would give."""
    names, normalized, serials = catalogue
    for i, key in enumerate(normalized):
        if key in overrides:
            names[i], serials[i] = overrides[key]
    dumps = json.dumps
    body = ",".join([f'{{"name":{dumps(n)},"_last-serial":{s}}}'
                     for n, s in zip(names, serials)])
    index_json = (f'{{"meta":{{"api-version":"{g.API_VERSION}","_last-serial":{serial}}},'
                  f'"projects":[{body}]}}').encode()
    del body
    head = ["<!DOCTYPE html>", '<html lang="en">', "  <head>",
            f'    <meta name="pypi:repository-version" content="{g.API_VERSION}">',
            "    <title>Simple index</title>", "  </head>", "  <body>"]
    escape = html.escape
    links = [f'    <a href="/simple/{k}/">{escape(n)}</a>' for k, n in zip(normalized, names)]
    index_html = ("\n".join(head + links + ["  </body>", "</html>"]) + "\n").encode()
    return index_json, index_html


def scale_upload_serial(serial: int) -> int:
    """The serial generate.upload_time should see so that serial 1..30M maps to 2005..2025."""
    seconds = 1_104_537_600 + serial * 21
    return g.FIRST_SERIAL + (seconds - g.UPLOAD_EPOCH) // g.SECONDS_PER_EVENT


def root_only(out: str, seed: int, count: int, sample: int, files_base: Optional[str]) -> dict:
    """Writes the root of `count` projects and full pages (with files on disk) for a sample."""
    tree = os.path.join(out, "tree")
    if os.path.exists(tree) and os.listdir(tree):
        raise SystemExit(f"generate.py: {tree} exists and is not empty")
    started = time.monotonic()
    names, normalized, serials = scale_catalogue(seed, count)
    rng = random.Random(f"cistern-scale-sample:{seed}:{count}")
    picked = sorted(rng.sample(range(count), min(sample, count)))
    print(f"generate.py: {count} names and serials, {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    writer = g.TreeWriter(out, rng, g.RandomPool(rng, 0), files_base)
    entries = []
    try:
        for i in picked:
            files = [g.wheel(), g.sdist()] if rng.random() < 0.7 else [g.wheel()]
            spec = g.ProjectSpec(names[i], [g.ReleaseSpec("1.0.0", files)])
            upload = scale_upload_serial(serials[i])
            # write_project reads serials[1:] for upload times and serials[-1] as the serial.
            entries.append(writer.write_project(spec, [serials[i]] + [upload] * 4
                                                + [serials[i]]))
    finally:
        writer.close()
    print(f"generate.py: {len(picked)} sample projects, {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    last = SCALE_MAX_SERIAL
    index_json, index_html = scale_root((names, normalized, serials), {}, last)
    del names, normalized, serials
    for rel, data in zip(ROOT_PAGES, (index_json, index_html, index_html)):
        g.write_bytes(os.path.join(tree, rel), data)
    manifest = {
        "generator": g.GENERATOR, "profile": "root-only", "seed": seed,
        "files_base": files_base, "serial": last, "generation": 0, "next_name_index": 0,
        "root_only": {"seed": seed, "projects": count, "sample_pages": len(picked)},
        "projects": sorted(entries, key=lambda e: e["normalized"]), "faults": {}}
    write_json(os.path.join(out, "manifest.json"), manifest)
    print(f"generate.py: root of {count} projects ({len(index_json) / g.MIB:.1f} MiB JSON), "
          f"{len(picked)} sample pages, serial {last}, {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    return manifest


def summary(report: dict) -> str:
    kinds: dict[str, int] = {}
    for event in report["events"]:
        kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
    stats = report["_stats"]
    return (f"generate.py: generation {report['generation']}: serial {report['from_serial']} -> "
            f"{report['to_serial']}, {len(report['events'])} events "
            f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
            f"{len(report['added_paths'])} added, {len(report['removed_paths'])} removed, "
            f"{len(report['modified_paths'])} modified paths; {stats['linked']} linked, "
            f"{stats['copied']} copied, {stats['written']} written")

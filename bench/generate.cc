#include "bench/generate.h"

#include <fmt/format.h>

#include "engine/pypi/file_location.h"
#include "net/url.h"

namespace cistern::bench {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The PyPI-style directory (BLAKE2b-256 on PyPI) of file `index`: "ab/cd/<60 hex>".
std::string BlakeDirs(size_t index) {
  const std::string hex = Hex64(0xb1a4e000000000ULL + index);
  return fmt::format("{}/{}/{}", hex.substr(0, 2), hex.substr(2, 2), hex.substr(4));
}

std::string FileSha256(size_t index) { return Hex64(index); }
std::string MetadataSha256(size_t index) { return Hex64(0x3e7a000000000ULL + index); }
uint64_t FileSize(size_t index) { return 10'000 + SplitMix64(index) % 50'000'000; }

}  // namespace

std::string Hex64(uint64_t seed) {
  std::string out;
  out.reserve(64);
  for (uint64_t part = 0; part < 4; ++part) {
    out += fmt::format("{:016x}", SplitMix64(seed * 4 + part));
  }
  return out;
}

std::string GeneratedFilename(size_t index) {
  // Alternate wheels and sdists across versions, as a long-lived project has.
  const size_t version = index / 2;
  if (index % 2 == 0) {
    return fmt::format("bench_project-{}.{}.{}-cp312-cp312-manylinux_2_17_x86_64.whl",
                       version / 100, version / 10 % 10, version % 10);
  }
  return fmt::format("bench_project-{}.{}.{}.tar.gz", version / 100, version / 10 % 10,
                     version % 10);
}

std::string GenerateProjectJson(size_t files) {
  std::string out;
  out.reserve(256 + files * 900);
  out += R"({"meta":{"api-version":"1.4","_last-serial":22406780},"name":"bench-project",)";
  out += R"("project-status":{"status":"active"},"versions":[)";
  for (size_t version = 0; version < (files + 1) / 2; ++version) {
    out += fmt::format(R"({}"{}.{}.{}")", version == 0 ? "" : ",", version / 100, version / 10 % 10,
                       version % 10);
  }
  out += R"(],"files":[)";
  for (size_t i = 0; i < files; ++i) {
    const std::string filename = GeneratedFilename(i);
    const std::string metadata = MetadataSha256(i);
    out += fmt::format(
        R"({}{{"filename":"{}","url":"https://files.pythonhosted.org/packages/{}/{}",)"
        R"("hashes":{{"sha256":"{}"}},"requires-python":">=3.8","size":{},)"
        R"("upload-time":"2024-01-17T16:53:12.779164Z","yanked":{},)"
        R"("core-metadata":{{"sha256":"{}"}},"data-dist-info-metadata":{{"sha256":"{}"}},)"
        R"("provenance":null}})",
        i == 0 ? "" : ",", filename, BlakeDirs(i), filename, FileSha256(i), FileSize(i),
        i % 97 == 0 ? R"("broken build")" : "false", metadata, metadata);
  }
  out += "]}";
  return out;
}

std::string GenerateProjectHtml(size_t files) {
  std::string out;
  out.reserve(512 + files * 560);
  out += R"(<!DOCTYPE html>
<html lang="en">
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <meta name="pypi:project-status" content="active">
    <title>Links for bench-project</title>
  </head>
  <body>
    <h1>Links for bench-project</h1>
)";
  for (size_t i = 0; i < files; ++i) {
    const std::string filename = GeneratedFilename(i);
    const std::string metadata = MetadataSha256(i);
    out += fmt::format(R"(    <a href="https://files.pythonhosted.org/packages/{}/{}#sha256={}" )"
                       R"(data-requires-python="&gt;=3.8"{} data-dist-info-metadata="sha256={}" )"
                       R"(data-core-metadata="sha256={}">{}</a><br />)"
                       "\n",
                       BlakeDirs(i), filename, FileSha256(i),
                       i % 97 == 0 ? R"( data-yanked="broken build")" : "", metadata, metadata,
                       filename);
  }
  out += "  </body>\n</html>\n<!--SERIAL 22406780-->\n";
  return out;
}

std::string GenerateRootHtml(size_t projects) {
  std::string out;
  out.reserve(256 + projects * 64);
  out += R"(<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Simple index</title>
  </head>
  <body>
)";
  for (size_t i = 0; i < projects; ++i) {
    out +=
        fmt::format("    <a href=\"/simple/project-{:06}-bench/\">Project_{:06}.Bench</a>\n", i, i);
  }
  out += "  </body>\n</html>\n<!--SERIAL 24888689-->\n";
  return out;
}

std::string GenerateRootJson(size_t projects) {
  std::string out;
  out.reserve(64 + projects * 56);
  out += R"({"meta":{"api-version":"1.4","_last-serial":24888689},"projects":[)";
  for (size_t i = 0; i < projects; ++i) {
    out += fmt::format(R"({}{{"name":"Project_{:06}.Bench","_last-serial":{}}})", i == 0 ? "" : ",",
                       i, 1'000'000 + SplitMix64(i) % 24'000'000);
  }
  out += "]}";
  return out;
}

engine::MirrorProject GenerateMirrorProject(size_t files) {
  engine::MirrorProject project;
  project.name = "bench-project";
  project.serial = 22406780;
  for (size_t version = 0; version < (files + 1) / 2; ++version) {
    project.versions.push_back(
        fmt::format("{}.{}.{}", version / 100, version / 10 % 10, version % 10));
  }
  project.files.reserve(files);
  for (size_t i = 0; i < files; ++i) {
    engine::MirrorFile file;
    file.filename = GeneratedFilename(i);
    auto path =
        store::RelativePath::Parse(fmt::format("packages/{}/{}", BlakeDirs(i), file.filename));
    file.href = engine::PageRelativeUrl(*path);
    file.sha256 = *store::Sha256Digest::FromHex(FileSha256(i));
    file.size = FileSize(i);
    file.requires_python = ">=3.8";
    file.upload_time = "2024-01-17T16:53:12.779164Z";
    if (i % 97 == 0) {
      file.yanked = engine::Yanked{true, "broken build"};
    }
    file.core_metadata = store::Sha256Digest::FromHex(MetadataSha256(i));
    project.files.push_back(std::move(file));
  }
  return project;
}

std::vector<store::FileRecord> GenerateStoredRecords(const engine::ProjectPage& page,
                                                     size_t stride) {
  std::vector<store::FileRecord> records;
  for (size_t i = 0; i < page.files.size(); i += stride) {
    const engine::UpstreamFile& file = page.files[i];
    auto url = net::Url::Parse(file.url);
    store::FileRecord record;
    record.path = url->path().substr(1);
    record.project = "bench-project";
    record.sha256 = *store::Sha256Digest::FromHex(file.hashes.at("sha256"));
    record.size = file.size.value_or(0);
    record.url = file.url;
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace cistern::bench

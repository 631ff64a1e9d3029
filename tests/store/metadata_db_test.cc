#include "store/metadata_db.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "store/bytes.h"
#include "store/keys.h"
#include "tests/store/result_helpers.h"
#include "tests/store/temp_dir.h"

namespace cistern::store {
namespace {

using testing::IsOk;
using testing::TempDir;

FileRecord File(std::string project, std::string path, uint64_t size = 1) {
  FileRecord file;
  file.path = std::move(path);
  file.project = std::move(project);
  file.sha256 = Sha256Of(AsBytes(file.path));
  file.size = size;
  file.url = "https://files.example/" + file.path;
  file.generation = Generation{1};
  return file;
}

ProjectRecord Project(std::string name, int64_t serial) {
  return ProjectRecord{name, name + "-Display", Serial{serial}, 99, Generation{1}};
}

std::vector<std::string> Paths(const std::vector<FileRecord>& files) {
  std::vector<std::string> paths;
  for (const FileRecord& file : files) {
    paths.push_back(file.path);
  }
  return paths;
}

class MetadataDbTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    db_.reset();
    auto db = MetadataDb::Open(dir_ / "state" / "db");
    ASSERT_TRUE(IsOk(db));
    db_ = std::move(*db);
  }

  TempDir dir_;
  std::unique_ptr<MetadataDb> db_;
};

TEST_F(MetadataDbTest, NewDatabaseRecordsSchemaVersionOne) {
  auto version = db_->GetMeta("schema_version");
  ASSERT_TRUE(IsOk(version));
  EXPECT_EQ(*version, std::optional<std::string>("1"));
}

TEST_F(MetadataDbTest, WritesPersistAcrossReopen) {
  WriteBatch batch;
  batch.PutProject(Project("numpy", 7));
  batch.PutFile(File("numpy", "packages/a/numpy-1.whl", 123));
  batch.PutMeta("last_generation", "5");
  ASSERT_TRUE(IsOk(db_->Write(std::move(batch))));
  Reopen();

  auto project = db_->GetProject("numpy");
  ASSERT_TRUE(IsOk(project));
  ASSERT_TRUE(project->has_value());
  EXPECT_EQ(**project, Project("numpy", 7));
  auto file = db_->GetFile("packages/a/numpy-1.whl");
  ASSERT_TRUE(IsOk(file));
  ASSERT_TRUE(file->has_value());
  EXPECT_EQ(**file, File("numpy", "packages/a/numpy-1.whl", 123));
  EXPECT_EQ(*db_->GetMeta("last_generation"), std::optional<std::string>("5"));
  EXPECT_EQ(*db_->CountProjects(), 1u);
}

TEST_F(MetadataDbTest, MissingRecordsReadAsNullopt) {
  EXPECT_EQ(*db_->GetProject("absent"), std::nullopt);
  EXPECT_EQ(*db_->GetFile("absent"), std::nullopt);
  EXPECT_EQ(*db_->GetMeta("absent"), std::nullopt);
  auto files = db_->ProjectFiles("absent");
  ASSERT_TRUE(IsOk(files));
  EXPECT_TRUE(files->empty());
}

TEST_F(MetadataDbTest, InvalidRecordRejectsWholeBatch) {
  WriteBatch batch;
  batch.PutProject(Project("good", 1));
  batch.PutFile(File("good", "packages/good.whl"));
  batch.PutProject(Project(std::string("bad\0name", 8), 2));
  auto written = db_->Write(std::move(batch));
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(written.error().detail, "write batch: project name contains NUL (\"bad\\x00name\")");
  EXPECT_EQ(*db_->GetProject("good"), std::nullopt);
  EXPECT_EQ(*db_->GetFile("packages/good.whl"), std::nullopt);
  EXPECT_EQ(*db_->CountProjects(), 0u);
}

TEST_F(MetadataDbTest, BatchAppliesPutsAndDeletesTogether) {
  WriteBatch first;
  first.PutProject(Project("a", 1));
  first.PutFile(File("a", "p/a-1"));
  first.PutFile(File("a", "p/a-2"));
  ASSERT_TRUE(IsOk(db_->Write(std::move(first))));

  WriteBatch second;
  second.DeleteFile(File("a", "p/a-1"));
  second.PutFile(File("a", "p/a-3"));
  second.PutProject(Project("a", 2));
  EXPECT_EQ(second.size(), 5u);  // a file change touches files and project_files
  ASSERT_TRUE(IsOk(db_->Write(std::move(second))));

  auto files = db_->ProjectFiles("a");
  ASSERT_TRUE(IsOk(files));
  EXPECT_EQ(Paths(*files), (std::vector<std::string>{"p/a-2", "p/a-3"}));
  EXPECT_EQ((*db_->GetProject("a"))->serial, Serial{2});
  EXPECT_EQ(*db_->GetFile("p/a-1"), std::nullopt);

  WriteBatch third;
  third.DeleteProject("a");
  ASSERT_TRUE(IsOk(db_->Write(std::move(third))));
  EXPECT_EQ(*db_->GetProject("a"), std::nullopt);
}

TEST_F(MetadataDbTest, RemovalsAreCommittedWithTheBatchAndSurviveReopen) {
  WriteBatch first;
  first.PutFile(File("a", "p/a-1"));
  ASSERT_TRUE(IsOk(db_->Write(std::move(first))));

  WriteBatch removal;
  removal.DeleteFile(File("a", "p/a-1"));
  removal.AddRemoval("p/a-1");
  removal.AddRemoval("simple/a/index.html");
  ASSERT_TRUE(IsOk(db_->Write(std::move(removal))));
  Reopen();  // a crash between the commit and the unlink
  auto pending = db_->Removals();
  ASSERT_TRUE(IsOk(pending));
  EXPECT_EQ(*pending, (std::vector<std::string>{"p/a-1", "simple/a/index.html"}));

  WriteBatch clear;
  clear.ClearRemoval("p/a-1");
  ASSERT_TRUE(IsOk(db_->Write(std::move(clear))));
  EXPECT_EQ(*db_->Removals(), (std::vector<std::string>{"simple/a/index.html"}));

  WriteBatch bad;
  bad.AddRemoval("");
  EXPECT_FALSE(db_->Write(std::move(bad)).has_value());
}

TEST_F(MetadataDbTest, ProjectFilesDoesNotLeakFooIntoFooBar) {
  WriteBatch batch;
  batch.PutFile(File("foo", "packages/foo-1.tar.gz"));
  batch.PutFile(File("foo-bar", "packages/foo-bar-1.tar.gz"));
  batch.PutFile(File("foo.bar", "packages/foo.bar-1.tar.gz"));
  batch.PutFile(File("fo", "packages/fo-1.tar.gz"));
  batch.PutFile(File("foo", "packages/foo-2.tar.gz"));
  ASSERT_TRUE(IsOk(db_->Write(std::move(batch))));

  auto foo = db_->ProjectFiles("foo");
  ASSERT_TRUE(IsOk(foo));
  EXPECT_EQ(Paths(*foo),
            (std::vector<std::string>{"packages/foo-1.tar.gz", "packages/foo-2.tar.gz"}));
  auto foo_bar = db_->ProjectFiles("foo-bar");
  ASSERT_TRUE(IsOk(foo_bar));
  EXPECT_EQ(Paths(*foo_bar), (std::vector<std::string>{"packages/foo-bar-1.tar.gz"}));
  EXPECT_EQ(db_->ProjectFiles("fo")->size(), 1u);
}

TEST_F(MetadataDbTest, ForEachProjectVisitsInKeyOrderAndStops) {
  WriteBatch batch;
  for (const char* name : {"zeta", "alpha", "mid"}) {
    batch.PutProject(Project(name, 1));
  }
  ASSERT_TRUE(IsOk(db_->Write(std::move(batch))));

  std::vector<std::string> all;
  ASSERT_TRUE(IsOk(db_->ForEachProject([&](const ProjectRecord& p) {
    all.push_back(p.name);
    return true;
  })));
  EXPECT_EQ(all, (std::vector<std::string>{"alpha", "mid", "zeta"}));

  std::vector<std::string> first_two;
  ASSERT_TRUE(IsOk(db_->ForEachProject([&](const ProjectRecord& p) {
    first_two.push_back(p.name);
    return first_two.size() < 2;
  })));
  EXPECT_EQ(first_two, (std::vector<std::string>{"alpha", "mid"}));
  EXPECT_EQ(*db_->CountProjects(), 3u);
}

TEST_F(MetadataDbTest, JournalScanStartsAtGenerationInNumericOrder) {
  WriteBatch batch;
  for (const uint64_t g : {10u, 2u, 1u, 3u}) {
    batch.AddJournal(JournalEntry{Generation{g}, "f" + std::to_string(g), JournalAction::kAdded, g,
                                  Sha256Of(AsBytes("x"))});
  }
  batch.AddJournal(
      JournalEntry{Generation{2}, "a-removed", JournalAction::kRemoved, 0, std::nullopt});
  ASSERT_TRUE(IsOk(db_->Write(std::move(batch))));

  std::vector<std::pair<uint64_t, std::string>> seen;
  ASSERT_TRUE(IsOk(db_->ForEachJournal(Generation{2}, [&](const JournalEntry& e) {
    seen.emplace_back(static_cast<uint64_t>(e.generation), e.path);
    return true;
  })));
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, std::string>>{
                      {2, "a-removed"}, {2, "f2"}, {3, "f3"}, {10, "f10"}}));

  std::optional<JournalEntry> removed;
  ASSERT_TRUE(IsOk(db_->ForEachJournal(Generation{2}, [&](const JournalEntry& e) {
    removed = e;
    return false;
  })));
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(*removed,
            (JournalEntry{Generation{2}, "a-removed", JournalAction::kRemoved, 0, std::nullopt}));

  size_t after_ten = 0;
  ASSERT_TRUE(IsOk(db_->ForEachJournal(Generation{11}, [&](const JournalEntry&) {
    ++after_ten;
    return true;
  })));
  EXPECT_EQ(after_ten, 0u);
}

TEST_F(MetadataDbTest, NewerSchemaVersionIsRefusedWithClearMessage) {
  WriteBatch batch;
  batch.PutMeta("schema_version", "2");
  ASSERT_TRUE(IsOk(db_->Write(std::move(batch))));
  db_.reset();

  const auto path = dir_ / "state" / "db";
  auto db = MetadataDb::Open(path);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code, Errc::kCorrupt);
  EXPECT_EQ(db.error().detail, "metadata db " + path.string() +
                                   " has schema version 2, newer than this cistern supports "
                                   "(1); use a newer cistern");
}

TEST_F(MetadataDbTest, UnreadableSchemaVersionIsCorrupt) {
  WriteBatch batch;
  batch.PutMeta("schema_version", "one");
  ASSERT_TRUE(IsOk(db_->Write(std::move(batch))));
  db_.reset();
  auto db = MetadataDb::Open(dir_ / "state" / "db");
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code, Errc::kCorrupt);
  EXPECT_NE(db.error().detail.find("unreadable schema_version \"one\""), std::string::npos)
      << db.error().detail;
}

TEST_F(MetadataDbTest, SecondOpenOfSameDirectoryIsLocked) {
  auto second = MetadataDb::Open(dir_ / "state" / "db");
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Errc::kLocked) << second.error().detail;
}

TEST_F(MetadataDbTest, CorruptValueIsReportedWithItsKey) {
  db_.reset();
  // Write garbage under a project key with raw RocksDB, as a damaged disk might.
  {
    rocksdb::Options options;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string_view name :
         {std::string_view(rocksdb::kDefaultColumnFamilyName), keys::kProjectsFamily,
          keys::kFilesFamily, keys::kProjectFilesFamily, keys::kJournalFamily, keys::kMetaFamily,
          keys::kRemovalsFamily}) {
      families.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(options, (dir_ / "state" / "db").string(), families, &handles, &raw)
            .ok());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), handles[1], "numpy", "\x01garbage").ok());
    for (auto* handle : handles) {
      ASSERT_TRUE(raw->DestroyColumnFamilyHandle(handle).ok());
    }
    delete raw;
  }
  Reopen();
  auto project = db_->GetProject("numpy");
  ASSERT_FALSE(project.has_value());
  EXPECT_EQ(project.error().code, Errc::kCorrupt);
  EXPECT_EQ(project.error().detail,
            "metadata db " + (dir_ / "state" / "db").string() +
                " projects[\"numpy\"]: project record value: truncated in field name (8 bytes)");
}

TEST_F(MetadataDbTest, TotalFilesCountsRecordsAndSumsSizes) {
  WriteBatch batch;
  batch.PutFile(File("foo", "packages/aa/bb/x/foo-1.0.tar.gz", 100));
  batch.PutFile(File("foo", "packages/aa/bb/y/foo-1.1.tar.gz", 250));
  batch.PutFile(File("bar", "packages/cc/dd/z/bar-2.0.zip", 7));
  ASSERT_TRUE(IsOk(db_->Write(std::move(batch))));
  auto totals = db_->TotalFiles();
  ASSERT_TRUE(IsOk(totals));
  EXPECT_EQ(totals->files, 3u);
  EXPECT_EQ(totals->bytes, 357u);
}

TEST_F(MetadataDbTest, ReadOnlyOpenReadsBesideTheWriterAndCannotWrite) {
  WriteBatch batch;
  batch.PutProject(Project("foo", 7));
  batch.PutMeta("generation", "3");
  ASSERT_TRUE(IsOk(db_->Write(std::move(batch))));

  // The writer (db_) stays open and holds the RocksDB lock.
  auto reader = MetadataDb::OpenReadOnly(dir_ / "state" / "db");
  ASSERT_TRUE(IsOk(reader));
  auto project = (*reader)->GetProject("foo");
  ASSERT_TRUE(IsOk(project));
  ASSERT_TRUE(project->has_value());
  EXPECT_EQ((*project)->serial, Serial{7});
  EXPECT_EQ((*reader)->GetMeta("generation").value(), std::optional<std::string>("3"));

  WriteBatch write;
  write.PutMeta("generation", "4");
  EXPECT_FALSE((*reader)->Write(std::move(write)).has_value());
}

// Bytes in the database's write-ahead logs: what the next open has to replay.
uint64_t LogBytes(const std::filesystem::path& dir) {
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") {
      bytes += entry.file_size();
    }
  }
  return bytes;
}

TEST_F(MetadataDbTest, ClosingAfterALargeRunMovesTheLogIntoTablesAndASmallOneStaysInTheLog) {
  const std::filesystem::path db_dir = dir_ / "state" / "db";
  WriteBatch large;
  for (int i = 0; i < 6000; ++i) {  // about 2 MiB of records: a big run's worth
    large.PutFile(File("big", "packages/aa/bb/" + std::string(60, 'c') + "/big-" +
                                  std::to_string(i) + ".tar.gz"));
  }
  ASSERT_TRUE(IsOk(db_->Write(std::move(large))));
  ASSERT_GT(LogBytes(db_dir), 1u << 20);
  db_.reset();
  EXPECT_EQ(LogBytes(db_dir), 0u) << "the next open would replay the large run's log";

  Reopen();
  auto files = db_->ProjectFiles("big");
  ASSERT_TRUE(IsOk(files));
  EXPECT_EQ(files->size(), 6000u);

  WriteBatch small;
  small.PutMeta("generation", "2");
  ASSERT_TRUE(IsOk(db_->Write(std::move(small))));
  db_.reset();
  EXPECT_GT(LogBytes(db_dir), 0u) << "a small run's log is replayed, not flushed at close";
  Reopen();
  EXPECT_EQ(*db_->GetMeta("generation"), std::optional<std::string>("2"));
}

TEST(MetadataDbReadOnlyTest, ReadOnlyOpenOfAMissingDatabaseIsNotFound) {
  TempDir dir;
  auto reader = MetadataDb::OpenReadOnly(dir.path() / "nothing-here");
  ASSERT_FALSE(reader.has_value());
  EXPECT_EQ(reader.error().code, make_error_code(Errc::kNotFound));
  EXPECT_NE(reader.error().detail.find("nothing-here"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "nothing-here"));
}

}  // namespace
}  // namespace cistern::store

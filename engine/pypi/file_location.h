#pragma once

// Where an upstream file lives in the mirror, and the checks that keep hostile names out.
//
// A file lands at `packages/<aa>/<bb>/<60 hex>/<filename>`. When the upstream URL has PyPI's
// layout (`/packages/<2 hex>/<2 hex>/<60 hex>/<name>`, name percent-decoded equal to the page's
// `filename`; for a `file:` URL, the path's last five segments), that path is kept, so the tree
// matches PyPI's, bandersnatch's and that of a mirror copied from a disk. Other layouts
// get the same shape built from the file's declared SHA-256 (first 64 hex digits), so any upstream
// yields a content-addressed tree; a file declared without one (md5 only, or no hash at all, which
// PEP 503 allows) gets it from the SHA-256 of its URL instead. Spec: pypi-mirror-protocol.md §1.5, §2.5, §4 "Path traversal".

#include <optional>
#include <string>
#include <string_view>

#include "engine/error.h"
#include "net/url.h"
#include "store/digest.h"
#include "store/relative_path.h"

namespace cistern::engine {

// Rejects a distribution file name that is empty, `.`/`..`, starts with `.`, contains `/`, `\`,
// NUL, another C0 control or DEL, is not valid UTF-8, or is longer than 255 bytes.
// Errors: Errc::kInvalidFile naming the (escaped) name and the reason.
[[nodiscard]] Result<void> ValidateFilename(std::string_view filename);

// The mirror path of a file listed as `filename` at `url` with declared digest `sha256`.
// Errors: Errc::kInvalidFile when the name is hostile or the URL's last segment names another
// file.
[[nodiscard]] Result<store::RelativePath> MirrorPathFor(
    const net::Url& url, std::string_view filename,
    const std::optional<store::Sha256Digest>& sha256);

// The PEP 658 metadata path beside `file`, or an error when the name would exceed NAME_MAX.
[[nodiscard]] Result<store::RelativePath> MetadataPathFor(const store::RelativePath& file);

// The URL of `path` as written in a project page at `simple/<name>/`: `../../` followed by the
// path with every segment percent-encoded (RFC 3986 unreserved characters kept).
std::string PageRelativeUrl(const store::RelativePath& path);

}  // namespace cistern::engine

// A throw-away CA and a server certificate for 127.0.0.1 and localhost, made with the `openssl`
// command exactly as tools/test_upstream/serve.py makes nginx's (EC P-256, valid two days), for
// in-process TLS servers such as FaultServer.
#pragma once

#include <filesystem>
#include <string>

#include <tl/expected.hpp>

namespace cistern::testing {

struct TestCertificates {
  std::string ca_file;    // PEM of the CA: give it to clients (curl --cacert)
  std::string cert_file;  // PEM of the server certificate, signed by the CA
  std::string key_file;   // PEM of the server key
};

// Writes ca.pem, ca.key, server.pem and server.key into `dir` (which must exist).
// Errors: the openssl command that failed and its stderr.
tl::expected<TestCertificates, std::string> MakeTestCertificates(const std::filesystem::path& dir);

}  // namespace cistern::testing

#include "tests/support/test_certificates.h"

#include <fstream>
#include <vector>

#include "tests/support/nginx_upstream.h"

namespace cistern::testing {

tl::expected<TestCertificates, std::string> MakeTestCertificates(const std::filesystem::path& dir) {
  const std::string ca_key = (dir / "ca.key").string();
  const std::string ca_pem = (dir / "ca.pem").string();
  const std::string key = (dir / "server.key").string();
  const std::string csr = (dir / "server.csr").string();
  const std::string pem = (dir / "server.pem").string();
  const std::string ext = (dir / "server.ext").string();
  std::ofstream(ext) << "basicConstraints=critical,CA:FALSE\n"
                        "keyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=serverAuth\n"
                        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                        "subjectKeyIdentifier=hash\n"
                        "authorityKeyIdentifier=keyid,issuer\n";
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                       "-nodes"};
  auto with_ec = [&ec](std::vector<std::string> argv) {
    argv.insert(argv.begin() + 2, ec.begin(), ec.end());
    return argv;
  };
  const std::vector<std::vector<std::string>> commands = {
      with_ec({"openssl", "req", "-x509", "-keyout", ca_key, "-out", ca_pem, "-days", "2", "-subj",
               "/CN=cistern test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
               "keyUsage=critical,keyCertSign,cRLSign"}),
      with_ec({"openssl", "req", "-new", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"}),
      {"openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-set_serial", "1",
       "-days", "2", "-out", pem, "-extfile", ext},
  };
  for (const std::vector<std::string>& argv : commands) {
    CommandResult result = RunCommand(argv, {}, std::chrono::seconds(60));
    if (result.exit_code != 0) {
      std::string line;
      for (const std::string& arg : argv) {
        line += arg + " ";
      }
      return tl::make_unexpected(line + "failed (exit " + std::to_string(result.exit_code) +
                                 "): " + result.err);
    }
  }
  return TestCertificates{ca_pem, pem, key};
}

}  // namespace cistern::testing

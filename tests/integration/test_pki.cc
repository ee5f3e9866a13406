#include "tests/integration/test_pki.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace memtwin::testing {
namespace {

// Runs a shell command; its output goes to stderr only when it fails.
bool Run(const std::string& command, const std::string& dir) {
  const std::string log = dir + "/openssl.log";
  const std::string full = "cd '" + dir + "' && " + command + " >'" + log + "' 2>&1";
  if (std::system(full.c_str()) == 0) return true;
  std::ifstream in(log);
  std::fprintf(stderr, "openssl failed: %s\n%s\n", command.c_str(),
               std::string(std::istreambuf_iterator<char>(in), {}).c_str());
  return false;
}

}  // namespace

std::unique_ptr<TestPki> TestPki::Create() {
  char dir[] = "/tmp/memtwin-pki-XXXXXX";
  if (mkdtemp(dir) == nullptr) return nullptr;
  std::unique_ptr<TestPki> pki(new TestPki());
  pki->dir_ = dir;
  if (!pki->MakeCa("ca", &pki->ca_) || !pki->MakeCa("other_ca", &pki->other_ca_)) return nullptr;
  return pki;
}

TestPki::~TestPki() {
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

bool TestPki::MakeCa(const std::string& name, KeyPair* out) {
  out->cert = dir_ + "/" + name + ".pem";
  out->key = dir_ + "/" + name + ".key";
  return Run(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3"
      " -subj /CN=memtwin-test-" +
          name + " -keyout " + name + ".key -out " + name + ".pem",
      dir_);
}

TestPki::KeyPair TestPki::Issue(const std::string& name, bool by_other_ca, bool expired,
                                const std::string& extra_san) {
  const KeyPair& ca = by_other_ca ? other_ca_ : ca_;
  std::string san = "subjectAltName=DNS:localhost,IP:127.0.0.1";
  if (!extra_san.empty()) san += "," + extra_san;
  {
    std::ofstream ext(dir_ + "/" + name + ".ext");
    ext << san << "\nextendedKeyUsage=serverAuth,clientAuth\n";
  }
  // `openssl x509 -req` cannot back-date, so an expired certificate is signed by the `ca`
  // command with explicit start and end dates in the past.
  std::string sign;
  if (expired) {
    {
      std::ofstream cnf(dir_ + "/" + name + ".cnf");
      cnf << "[ca]\ndefault_ca=test\n[test]\ndatabase=" << name << ".index\nnew_certs_dir=.\n"
          << "serial=" << name << ".serial\ndefault_md=sha256\npolicy=any\n"
          << "copy_extensions=none\nunique_subject=no\n[any]\ncommonName=supplied\n";
    }
    std::ofstream(dir_ + "/" + name + ".index").flush();
    std::ofstream(dir_ + "/" + name + ".serial") << "01\n";
    sign = "openssl ca -batch -config " + name + ".cnf -cert " + ca.cert + " -keyfile " + ca.key +
           " -startdate 20200101000000Z -enddate 20200102000000Z -extfile " + name + ".ext -in " +
           name + ".csr -out " + name + ".pem -notext";
  } else {
    sign = "openssl x509 -req -in " + name + ".csr -CA " + ca.cert + " -CAkey " + ca.key +
           " -CAcreateserial -days 2 -extfile " + name + ".ext -out " + name + ".pem";
  }
  KeyPair pair{dir_ + "/" + name + ".pem", dir_ + "/" + name + ".key"};
  if (!Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + name +
               " -keyout " + name + ".key -out " + name + ".csr",
           dir_) ||
      !Run(sign, dir_)) {
    return {};
  }
  return pair;
}

}  // namespace memtwin::testing

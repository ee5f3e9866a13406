// A throwaway public-key infrastructure for TLS tests, made with the openssl command-line tool in
// a fresh temporary directory that is removed when the TestPki dies: a CA, certificates it
// signs (for 127.0.0.1 / localhost unless told otherwise), an unrelated second CA, and expired
// certificates.
#pragma once

#include <memory>
#include <string>

namespace memtwin::testing {

class TestPki {
 public:
  struct KeyPair {
    std::string cert;  // PEM certificate file
    std::string key;   // PEM private key file (unencrypted)
  };

  // Creates the directory and the two CAs ("ca" and "other_ca"); nullptr (with the openssl
  // output on stderr) if the tool fails.
  static std::unique_ptr<TestPki> Create();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& ca_cert() const { return ca_.cert; }
  const std::string& other_ca_cert() const { return other_ca_.cert; }

  // A certificate named `name` (file stem and CN) with subjectAltName DNS:localhost and
  // IP:127.0.0.1 plus `extra_san` (e.g. "DNS:node-a"), signed by the CA or by the other CA.
  // `expired` makes it valid only for a period that has already ended. Empty paths on failure.
  KeyPair Issue(const std::string& name, bool by_other_ca = false, bool expired = false,
                const std::string& extra_san = "");

 private:
  TestPki() = default;
  bool MakeCa(const std::string& name, KeyPair* out);

  std::string dir_;
  KeyPair ca_;
  KeyPair other_ca_;
};

}  // namespace memtwin::testing

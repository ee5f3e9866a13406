#include "replication/link_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "replication/wire.h"

namespace memtwin::replication {
namespace {

constexpr std::string_view kAcceptorLabel = "memtwin-acceptor";
constexpr std::string_view kDiallerLabel = "memtwin-dialler";
constexpr char kExporterLabel[] = "EXPORTER-memtwin-replication-auth";
constexpr size_t kBindingSize = 32;

std::string Mac(std::string_view secret, std::string_view label, std::string_view first,
                std::string_view second, std::string_view binding) {
  std::string message;
  message.reserve(label.size() + first.size() + second.size() + binding.size());
  message.append(label).append(first).append(second).append(binding);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out,
           &out_len) == nullptr ||
      out_len != kAuthMacSize) {
    return std::string();  // never matches a received MAC: MacMatches checks the length
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

}  // namespace

std::string NewAuthNonce() {
  std::string nonce(kAuthNonceSize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) !=
      1) {
    return std::string();
  }
  return nonce;
}

std::string AcceptorMac(std::string_view secret, std::string_view dialler_nonce,
                        std::string_view acceptor_nonce, std::string_view binding) {
  return Mac(secret, kAcceptorLabel, dialler_nonce, acceptor_nonce, binding);
}

std::string DiallerMac(std::string_view secret, std::string_view acceptor_nonce,
                       std::string_view dialler_nonce, std::string_view binding) {
  return Mac(secret, kDiallerLabel, acceptor_nonce, dialler_nonce, binding);
}

bool MacMatches(std::string_view expected, std::string_view received) {
  return expected.size() == kAuthMacSize && received.size() == kAuthMacSize &&
         CRYPTO_memcmp(expected.data(), received.data(), kAuthMacSize) == 0;
}

std::string TlsChannelBinding(SSL* ssl) {
  std::string binding(kBindingSize, '\0');
  if (ssl == nullptr || SSL_export_keying_material(
                            ssl, reinterpret_cast<unsigned char*>(binding.data()), binding.size(),
                            kExporterLabel, sizeof(kExporterLabel) - 1, nullptr, 0, 0) != 1) {
    return std::string();
  }
  return binding;
}

}  // namespace memtwin::replication

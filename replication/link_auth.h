// The replication link's shared-secret challenge-response (--repl-secret-file): fresh nonces and
// the two HMAC-SHA256 proofs that the dialler and the acceptor exchange before any HELLO or data
// (frames in wire.h). Stateless and thread-safe.
//
//   dialler  -> AUTH_CHALLENGE(nd)
//   acceptor -> AUTH_RESPONSE(na, AcceptorMac(secret, nd, na, binding))
//   dialler  -> AUTH_PROOF(DiallerMac(secret, na, nd, binding)), then HELLO
//
// Each side proves it holds the secret over the other side's fresh nonce, so a recorded
// exchange replayed later fails. The two MACs carry different labels, so one side's answer can
// never be reflected back as the other's. `binding` is the TLS session's exported keying
// material when the link runs over TLS (empty otherwise): a proof made inside one TLS session
// is worthless in another, so a party in the middle holding a valid certificate cannot relay
// the exchange between two sessions of its own.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace memtwin::replication {

// kAuthNonceSize random bytes from OpenSSL's CSPRNG; empty if it failed.
std::string NewAuthNonce();

// kAuthMacSize bytes each. `dialler_nonce` and `acceptor_nonce` are kAuthNonceSize bytes.
std::string AcceptorMac(std::string_view secret, std::string_view dialler_nonce,
                        std::string_view acceptor_nonce, std::string_view binding);
std::string DiallerMac(std::string_view secret, std::string_view acceptor_nonce,
                       std::string_view dialler_nonce, std::string_view binding);

// Constant-time comparison: how much of a MAC matched must not leak through timing.
bool MacMatches(std::string_view expected, std::string_view received);

// Keying material exported from an established TLS session (RFC 5705), the same on both ends;
// empty if OpenSSL could not export it.
std::string TlsChannelBinding(SSL* ssl);

}  // namespace memtwin::replication

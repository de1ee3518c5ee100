#!/usr/bin/env bash
# Writes the certificates of the secured example into ./tls (run from the
# repository root, or pass the directory): a CA, the brokers' certificate
# (127.0.0.1 and localhost, server and client use, CN=kop-broker) and the
# operator's client certificate (CN=kop-admin). Needs openssl.
set -euo pipefail
dir=${1:-tls}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj "/CN=KOP example CA" -keyout ca.key -out ca.pem 2>/dev/null
issue() { # name subject extensions
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  cat "$1.crt" "$1.key" >"$1.pem"
  rm -f "$1.csr" "$1.ext" "$1.crt" "$1.key"
}
issue broker "/CN=kop-broker" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
issue admin "/CN=kop-admin" "extendedKeyUsage=clientAuth"
chmod 600 ./*.pem ca.key
echo "gen-certs.sh: wrote $(pwd)/{ca.pem,broker.pem,admin.pem}"

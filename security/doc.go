// Package security authenticates Kafka clients: the TLS configuration of
// SSL and SASL_SSL listeners (certificates reloaded from their files when
// they change, client certificates as principals), the SASL mechanisms
// (PLAIN, checked against a Pulsar token or a stored SCRAM credential;
// SCRAM-SHA-256 and SCRAM-SHA-512 as in RFC 5802 and RFC 7677) and the
// verification of Pulsar tokens (JWTs signed with tokenSecretKey or
// tokenPublicKey, as Pulsar's AuthenticationProviderToken checks them).
//
// # What it owns
//
//   - The server side of each SASL exchange as a step function over the
//     mechanism's bytes: [Authenticator.Start] gives an [Exchange], the
//     Kafka layer feeds it each client message and sends back what it
//     returns, until the exchange names its [Principal] or fails.
//   - Deriving SCRAM credentials (salted, never the password) and checking
//     a password against one.
//   - Loading TLS keys and trust from PEM files.
//
// # What it must not do
//
//   - Know the Kafka wire protocol, Raft or storage: credentials come
//     through the [Credentials] interface, and the caller maps errors to
//     Kafka error codes.
//   - Put a password, a token or a key in an error or a log line: errors
//     say which check failed, never with what.
//   - Keep global state.
package security

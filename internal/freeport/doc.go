// Package freeport hands out loopback TCP ports for tests and benchmarks
// that start servers as separate processes.
//
// It owns only the choice of port numbers: it never starts or stops a
// server. A port it returns was free when chosen and is never handed out
// twice by one process, so two servers started by one test cannot be
// given the same port even when the kernel would offer it again.
package freeport

package pulsartest

// This package owns starting and stopping test Pulsars; it must not be
// imported by non-test code.

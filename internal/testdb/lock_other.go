//go:build !unix

package testdb

// lockFile does not lock where flock is missing: parallel test binaries may then build devdb side by
// side, which costs time, not correctness (each renames its own build into place).
func lockFile(string) (func(), error) { return func() {}, nil }

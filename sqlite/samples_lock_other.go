//go:build !unix

package sqlite

// ownLog never makes a process the owner of the sample log where flock is
// missing: appends then go to the sample table directly (see
// samples_log.go), as they did before the log existed.
func ownLog(path string) (func(), error) { return nil, nil }

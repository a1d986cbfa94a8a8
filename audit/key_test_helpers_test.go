package audit_test

import "os"

func writeFile(path string, b []byte, mode os.FileMode) error { return os.WriteFile(path, b, mode) }

func chmod(path string, mode os.FileMode) error { return os.Chmod(path, mode) }

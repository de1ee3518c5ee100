//go:build unix

package disklog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

const lockFile = ".lock"

// lockDir takes an exclusive advisory lock on dir so that two processes
// never write the same logs.
func lockDir(dir string) (func() error, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("disklog: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("disklog: %s is in use by another process", dir)
		}
		return nil, fmt.Errorf("disklog: lock %s: %w", dir, err)
	}
	return f.Close, nil
}

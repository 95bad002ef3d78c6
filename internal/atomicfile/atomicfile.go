// Package atomicfile replaces files so that a reader or a crash sees either
// the old content or the new, never a part: the data goes to a temporary
// file, is fsynced, gets its permissions and is renamed over the target.
// The agent's state, status and epoch files, the job-mapping files DCGM
// reads, and the server's CA and certificate files are written this way.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data, through a temporary file beside it.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteVia(filepath.Dir(path), path, data, perm)
}

// WriteVia is Write with the temporary file made in tmpDir (on the same
// file system as path), for a directory whose readers must never see a
// temporary file in it.
func WriteVia(tmpDir, path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(tmpDir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

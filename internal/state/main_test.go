package state

import (
	"os"
	"testing"
)

var tempDirs []string

func mkdirTemp() (string, error) {
	d, err := os.MkdirTemp("", "qun-state-etcd-")
	if err == nil {
		tempDirs = append(tempDirs, d)
	}
	return d, err
}

// TestMain stops the shared etcd cluster after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if etcdCluster != nil {
		etcdCluster.Stop()
	}
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
)

// freeLocalAddrs returns n distinct free ports on 127.0.0.1 for the
// agents' metrics. The ports are closed again before the agents bind them;
// an agent that loses the race exits, and qun up reports it.
func freeLocalAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]string, n)
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out[i] = ln.Addr().String()
	}
	return out, nil
}

// promTargets is one group of Prometheus's file_sd_configs format.
type promTargets struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// writeTargets writes the agents' metrics addresses in Prometheus's
// file-based service discovery format; DATA_DIR/prometheus.yml
// (up_secure.go) scrapes them with the server, which needs TLS and a token.
func writeTargets(path string, agents []string) error {
	data, err := json.MarshalIndent([]promTargets{
		{Targets: agents, Labels: map[string]string{"job": "qun-agent"}},
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write Prometheus targets: %w", err)
	}
	return nil
}

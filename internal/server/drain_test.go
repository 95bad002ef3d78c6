package server

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
)

// TestDrainInMetrics: a cordoned node (api.Node.Cordoned, as qun node
// cordon and drain set it) counts as drain in qun_nodes, and its free
// chips as drain in qun_chips.
func TestDrainInMetrics(t *testing.T) {
	e := metricsScene(t)
	// The scene's idle node runs nothing; cordon it through the API.
	e.srv.mu.Lock()
	idle := ""
	for name, n := range e.srv.nodes {
		if n.State == api.NodeReady && e.srv.st.FreeChips(n.host) == 8 {
			idle = name
		}
	}
	e.srv.mu.Unlock()
	if idle == "" {
		t.Fatal("the scene has no idle node")
	}
	if _, err := e.c.CordonNode(context.Background(), idle, "maintenance"); err != nil {
		t.Fatal(err)
	}
	fams := e.scrape()
	want := map[string]map[string]float64{
		"qun_nodes": {"state=alloc": 1, "state=mix": 1, "state=idle": 0, "state=down": 1, "state=drain": 1},
		"qun_chips": {"kind=H100,state=alloc": 12, "kind=H100,state=idle": 4, "kind=H100,state=down": 8, "kind=H100,state=drain": 8},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, series(fams, name)); diff != "" {
			t.Errorf("%s with %s cordoned (-want +got):\n%s", name, idle, diff)
		}
	}
}
